// Errors as values (leveldb's Status, abseil's StatusOr). Fallible functions return
// Status or Result<T>; no exception crosses a module boundary.
// Thread-safety: value types; distinct instances may be used from any thread.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pgagent {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input: config value, malformed frame or line
  kNotFound,            // file, key or record absent
  kAlreadyExists,
  kPermissionDenied,    // EACCES, missing role privileges
  kUnauthenticated,     // listener 401/403
  kFailedPrecondition,  // state does not allow the call (e.g. not connected)
  kResourceExhausted,   // buffer/window full, rate limited
  kUnavailable,         // transient: database down, connection refused, 5xx
  kDeadlineExceeded,    // timeouts
  kDataLoss,            // corrupt stored data
  kCancelled,           // shutdown requested
  kAborted,
  kInternal,            // a bug: "cannot happen"
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "UNAVAILABLE: connection refused"; "OK" for success.
  std::string ToString() const;
  // Returns a copy with "context: " put in front of the message.
  Status WithContext(std::string_view context) const;

  // Explicitly ignores a status where failure does not matter (documented at the call).
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status PermissionDeniedError(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status UnauthenticatedError(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status AbortedError(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }

// Status from errno, e.g. ErrnoStatus("open /var/log/x", errno). ENOENT -> kNotFound,
// EACCES/EPERM -> kPermissionDenied, ENOSPC -> kResourceExhausted, others -> kUnavailable.
Status ErrnoStatus(std::string_view what, int err);

// A value or an error. Accessing value() of an error aborts (a bug, not a runtime failure).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}                   // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {             // NOLINT: implicit by design
    if (std::get<Status>(data_).ok()) std::abort();  // an OK status carries no value
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(data_);
  }
  T& value() & {
    if (!ok()) std::abort();
    return std::get<T>(data_);
  }
  const T& value() const& {
    if (!ok()) std::abort();
    return std::get<T>(data_);
  }
  T&& value() && {
    if (!ok()) std::abort();
    return std::get<T>(std::move(data_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T fallback) const { return ok() ? std::get<T>(data_) : std::move(fallback); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace pgagent

#define PGAGENT_CONCAT_INNER_(a, b) a##b
#define PGAGENT_CONCAT_(a, b) PGAGENT_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when expr is not OK.
#define PGAGENT_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::pgagent::Status pgagent_status_ = (expr);  \
    if (!pgagent_status_.ok()) return pgagent_status_; \
  } while (0)

// PGAGENT_ASSIGN_OR_RETURN(auto x, MakeX()); returns the error status when MakeX fails.
#define PGAGENT_ASSIGN_OR_RETURN(lhs, expr) \
  PGAGENT_ASSIGN_OR_RETURN_IMPL_(PGAGENT_CONCAT_(pgagent_result_, __LINE__), lhs, expr)
#define PGAGENT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
