#include "shared/listener/curl_transport.h"

#include <algorithm>

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace pgagent {
namespace {

struct ResponseSink {
  std::string body;
  size_t max_bytes = 0;
  std::optional<std::string> retry_after;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<ResponseSink*>(user);
  const size_t bytes = size * n;
  const size_t room = sink->max_bytes > sink->body.size() ? sink->max_bytes - sink->body.size() : 0;
  sink->body.append(data, std::min(bytes, room));
  return bytes;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<ResponseSink*>(user);
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(line[i])) != kName[i]) {
        match = false;
        break;
      }
    }
    if (match) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
      sink->retry_after = std::string(v);
    }
  }
  return size * n;
}

Status CurlError(CURLcode code, const char* detail, const std::string& url) {
  std::string message = "POST/GET " + url + ": " + curl_easy_strerror(code);
  if (detail != nullptr && detail[0] != '\0') message += std::string(" (") + detail + ")";
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceededError(message);
    case CURLE_ABORTED_BY_CALLBACK:
      return CancelledError("request abandoned: shutting down");
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return PermissionDeniedError(message + "; the listener's TLS certificate was not accepted");
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return InvalidArgumentError(message);
    default:
      return UnavailableError(message);
  }
}

int AbortIfRequested(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort != nullptr && abort->load() ? 1 : 0;
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::optional<double> ParseRetryAfter(std::string_view value, double now_unix_s) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  // RFC 9110 10.2.3: delta-seconds = 1*DIGIT. Nothing else is a number here ("1.5", "inf",
  // "1e20" are not), and a huge count saturates instead of overflowing.
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    constexpr double kSaturated = 1e9;
    double seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds >= kSaturated) return kSaturated;
    }
    return seconds;
  }
  const std::string text(value);
  const std::time_t when = curl_getdate(text.c_str(), nullptr);  // HTTP-date
  if (when < 0) return std::nullopt;
  const double delay = static_cast<double>(when) - now_unix_s;
  return delay < 0 ? 0.0 : delay;
}

CurlTransport::CurlTransport(const CurlTransportOptions& options) : options_(options) {}

CurlTransport::~CurlTransport() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<std::unique_ptr<CurlTransport>> CurlTransport::Create(const CurlTransportOptions& options) {
  GlobalInitOnce();
  std::unique_ptr<CurlTransport> t(new CurlTransport(options));
  t->curl_ = curl_easy_init();
  if (t->curl_ == nullptr) return UnavailableError("curl_easy_init failed");
  return t;
}

Result<HttpResponse> CurlTransport::Post(const HttpRequest& request) {
  return Perform(request.url, &request);
}

Result<HttpResponse> CurlTransport::Get(const std::string& url) { return Perform(url, nullptr); }

Result<HttpResponse> CurlTransport::Perform(const std::string& url, const HttpRequest* post) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache: keep-alive survives
  ResponseSink sink;
  sink.max_bytes = options_.max_response_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.insecure_skip_tls_verify ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.insecure_skip_tls_verify ? 0L : 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.abort != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &AbortIfRequested);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options_.abort));
  }
  curl_slist* headers = nullptr;
  if (post != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->body.size()));
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    for (const auto& [name, value] : post->headers) {
      headers = curl_slist_append(headers, (name + ": " + value).c_str());
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  const CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) return CurlError(code, error, url);
  HttpResponse response;
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  response.body = std::move(sink.body);
  if (sink.retry_after) {
    response.retry_after_s = ParseRetryAfter(*sink.retry_after, static_cast<double>(std::time(nullptr)));
  }
  return response;
}

}  // namespace pgagent
