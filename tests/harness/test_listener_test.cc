// Acceptance tests of the test listener (issue 2: the Bitville listener contract), talking
// HTTPS to it with libcurl directly, certificate verification on.
#include "tests/harness/test_listener.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/subprocess.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;

struct Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

struct Request {
  std::string method = "POST";
  std::string url;
  std::string body;
  std::vector<std::string> headers;
  std::string ca_file;
  long timeout_ms = 10000;
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n ") + 1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

// One request on `curl` (reused: keep-alive), returning what the client observed.
Response Perform(CURL* curl, const Request& req) {
  Response r;
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  if (req.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  r.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  r.error = error[0] ? error : curl_easy_strerror(r.code);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return r;
}

template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string Envelope(const std::string& source, const std::string& extra = "") {
  return "{\"project\":\"client-project\",\"timestamp\":1795770000.25,\"source\":\"" + source +
         "\",\"data\":{\"host\":\"db1\"}" + extra + "}";
}

class TestListenerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto started = TestListener::Start();
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    listener_ = std::move(started).value().release();
  }
  static void TearDownTestSuite() {
    delete listener_;
    listener_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(listener_, nullptr);
    ASSERT_TRUE(listener_->Reset().ok());
    curl_ = curl_easy_init();
    ASSERT_NE(curl_, nullptr);
  }
  void TearDown() override { curl_easy_cleanup(curl_); }

  // POST to the ingest URL with the right key and content type unless overridden.
  Response Post(const std::string& body,
                std::vector<std::string> headers = {"Authorization: Bearer test-api-key",
                                                    "Content-Type: application/json"},
                long timeout_ms = 10000) {
    Request req;
    req.url = listener_->ingest_url();
    req.body = body;
    req.headers = std::move(headers);
    req.ca_file = listener_->ca_file();
    req.timeout_ms = timeout_ms;
    return Perform(curl_, req);
  }
  Response Get(const std::string& path) {
    Request req;
    req.method = "GET";
    req.url = listener_->base_url() + path;
    req.ca_file = listener_->ca_file();
    return Perform(curl_, req);
  }

  static TestListener* listener_;
  CURL* curl_ = nullptr;
};

TestListener* TestListenerTest::listener_ = nullptr;

TEST_F(TestListenerTest, AcceptsEverySourceAndAnswersWithARowId) {
  int row = 0;
  for (const char* source :
       {"pg_stat_activity", "pg_stat_statements", "pg_log", "system_metrics"}) {
    Response r = Post(Envelope(source));
    ASSERT_EQ(r.code, CURLE_OK) << r.error;
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "{\"success\": true, \"row_id\": " + std::to_string(++row) +
                          ", \"source\": \"" + source + "\"}");
  }
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 4);
  EXPECT_EQ(listener_->CountWithStatus(200).value_or(-1), 4);
}

TEST_F(TestListenerTest, TheCorrelationViewReturnsOnlyRowsLinkedAtTheTopLevel) {
  const std::string id = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
  ASSERT_EQ(Post(Envelope("pg_log", ",\"correlation_id\":\"" + id + "\"")).status, 200);
  // The id only inside data: stored, but the listener does not link it.
  ASSERT_EQ(Post("{\"project\":\"p\",\"timestamp\":1,\"source\":\"pg_log\",\"data\":"
                 "{\"entries\":[{\"correlation_id\":\"" + id + "\"}]}}")
                .status,
            200);
  Request req;
  req.method = "GET";
  req.url = listener_->base_url() + "/api/correlation/" + id;
  req.ca_file = listener_->ca_file();
  req.headers = {"Authorization: Bearer test-api-key"};
  Response linked = Perform(curl_, req);
  ASSERT_EQ(linked.status, 200) << linked.body;
  EXPECT_NE(linked.body.find("\"count\": 1"), std::string::npos) << linked.body;
  req.headers = {};
  EXPECT_EQ(Perform(curl_, req).status, 401);
  EXPECT_EQ(listener_->CorrelationRowCount(id).value_or(-1), 1);
}

TEST_F(TestListenerTest, IntegersBeyondTwoToTheFiftyThirdAreCountedAsUnsafe) {
  // JSON.parse reads 4696375739796055123 as 4696375739796055000.
  ASSERT_EQ(Post("{\"project\":\"p\",\"timestamp\":1,\"source\":\"pg_stat_statements\","
                 "\"data\":{\"queryid\":4696375739796055123,\"calls\":9007199254740992,"
                 "\"as_text\":\"4696375739796055123\"}}")
                .status,
            200);
  auto stats = listener_->StatsJson();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->find("\"unsafe_integers\": 1"), std::string::npos) << *stats;
  auto rows = listener_->StoredJson();
  ASSERT_TRUE(rows.ok());
  EXPECT_NE(rows->find("4.696375739796055e+18"), std::string::npos) << *rows;  // rounded
}

TEST_F(TestListenerTest, RejectsBodiesThatAreNotValidJsonObjects) {
  EXPECT_EQ(Post("{\"project\":").status, 400);
  EXPECT_EQ(Post("[1,2]").status, 400);
  EXPECT_EQ(Post("").status, 400);
  RunOptions gzip;
  gzip.stdin_data = Envelope("pg_log");
  auto gzipped = RunProcess({"gzip", "-c"}, gzip);
  ASSERT_TRUE(gzipped.ok() && gzipped->exit_code == 0);
  Response r = Post(gzipped->out, {"Authorization: Bearer test-api-key",
                                   "Content-Type: application/json", "Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid JSON"), std::string::npos) << r.body;
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
}

TEST_F(TestListenerTest, RejectsEnvelopesThatFailValidation) {
  const std::string ok_data = ",\"data\":{}";
  const std::vector<std::string> bad = {
      Envelope("pg_locks"),
      Envelope("PG_LOG"),
      "{\"project\":\"" + std::string(51, 'p') + "\",\"timestamp\":1,\"source\":\"pg_log\"" +
          ok_data + "}",
      "{\"project\":\"\",\"timestamp\":1,\"source\":\"pg_log\"" + ok_data + "}",
      "{\"project\":7,\"timestamp\":1,\"source\":\"pg_log\"" + ok_data + "}",
      Envelope("pg_log", ",\"correlation_id\":null"),
      Envelope("pg_log", ",\"correlation_id\":42"),
      "{\"project\":\"p\",\"timestamp\":1,\"source\":\"pg_log\"}",
      "{\"project\":\"p\",\"timestamp\":1,\"source\":\"pg_log\",\"data\":[]}",
      "{\"project\":\"p\",\"timestamp\":true,\"source\":\"pg_log\"" + ok_data + "}",
      "{\"project\":\"p\",\"timestamp\":\"1\",\"source\":\"pg_log\"" + ok_data + "}",
      "{\"project\":\"p\",\"timestamp\":NaN,\"source\":\"pg_log\"" + ok_data + "}",
      "{\"project\":\"p\",\"source\":\"pg_log\"" + ok_data + "}",
  };
  for (const auto& body : bad) {
    Response r = Post(body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
  }
  // The boundaries that are fine: 50 characters, an integer timestamp, an empty id.
  EXPECT_EQ(Post("{\"project\":\"" + std::string(50, 'p') +
                 "\",\"timestamp\":1,\"source\":\"pg_log\",\"data\":{},\"correlation_id\":\"\"}")
                .status,
            200);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 1);
}

TEST_F(TestListenerTest, RequiresTheJsonContentType) {
  EXPECT_EQ(
      Post(Envelope("pg_log"), {"Authorization: Bearer test-api-key", "Content-Type: text/plain"})
          .status,
      400);
  EXPECT_EQ(Post(Envelope("pg_log"), {"Authorization: Bearer test-api-key",
                                      "Content-Type: application/json; charset=utf-8"})
                .status,
            200);
}

TEST_F(TestListenerTest, RejectsMissingWrongOrLowercaseBearerKeys) {
  EXPECT_EQ(Post(Envelope("pg_log"), {"Content-Type: application/json"}).status, 401);
  EXPECT_EQ(Post(Envelope("pg_log"),
                 {"Authorization: Bearer wrong-key", "Content-Type: application/json"})
                .status,
            401);
  EXPECT_EQ(Post(Envelope("pg_log"),
                 {"Authorization: bearer test-api-key", "Content-Type: application/json"})
                .status,
            401);
  EXPECT_EQ(
      Post(Envelope("pg_log"), {"Authorization: test-api-key", "Content-Type: application/json"})
          .status,
      401);
  EXPECT_EQ(listener_->CountWithStatus(401).value_or(-1), 4);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
}

TEST_F(TestListenerTest, AnswersTooManyRequestsWithRetryAfterOnceOverTheLimit) {
  ASSERT_TRUE(listener_->SetRateLimit(3).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  Response r = Post(Envelope("pg_log"));
  EXPECT_EQ(r.status, 429);
  ASSERT_EQ(r.headers.count("retry-after"), 1u);
  int retry_after = std::stoi(r.headers["retry-after"]);
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(r.headers["retry-after"], std::to_string(retry_after));  // integer seconds
  // Counted before authentication: a bad key over the limit still gets 429, not 401.
  EXPECT_EQ(Post(Envelope("pg_log"), {"Authorization: Bearer wrong"}).status, 429);
  ASSERT_TRUE(listener_->ResetRateWindow().ok());
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  EXPECT_EQ(listener_->CountWithStatus(429).value_or(-1), 2);
}

TEST_F(TestListenerTest, RateLimitCountsRequestsThatFailAuthentication) {
  ASSERT_TRUE(listener_->SetRateLimit(2).ok());
  EXPECT_EQ(Post(Envelope("pg_log"), {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Post(Envelope("pg_log"), {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Post(Envelope("pg_log")).status, 429);
}

TEST_F(TestListenerTest, ContractLimitIsOneHundredPerWindow) {
  int ok = 0;
  for (int i = 0; i < 100; ++i) ok += Post(Envelope("pg_log")).status == 200;
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(Post(Envelope("pg_log")).status, 429);
}

TEST_F(TestListenerTest, StoresTheKeysProjectAndDropsUnknownTopLevelKeys) {
  Response r = Post(Envelope("pg_stat_statements",
                             ",\"correlation_id\":\"Req-42\",\"host\":\"db1\",\"agent\":\"x\""));
  ASSERT_EQ(r.status, 200) << r.body;
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->values_size(), 1);
  const auto& row = rows->values(0).struct_value().fields();
  EXPECT_EQ(row.at("project").string_value(), "test-project");
  EXPECT_EQ(row.at("body_project").string_value(), "client-project");
  EXPECT_EQ(row.at("source").string_value(), "pg_stat_statements");
  EXPECT_EQ(row.at("correlation_id").string_value(), "Req-42");
  EXPECT_DOUBLE_EQ(row.at("timestamp").number_value(), 1795770000.25);
  EXPECT_EQ(row.at("data").struct_value().fields().at("host").string_value(), "db1");
  EXPECT_EQ(row.count("host"), 0u);
  EXPECT_EQ(row.count("agent"), 0u);
}

TEST_F(TestListenerTest, ExtraApiKeysStoreUnderTheirOwnProject) {
  ASSERT_TRUE(listener_->AddApiKey("second-key", "second-project").ok());
  EXPECT_EQ(Post(Envelope("pg_log"),
                 {"Authorization: Bearer second-key", "Content-Type: application/json"})
                .status,
            200);
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok() && rows->values_size() == 1);
  EXPECT_EQ(rows->values(0).struct_value().fields().at("project").string_value(), "second-project");
}

TEST_F(TestListenerTest, ServesHealthAndReadiness) {
  Response health = Get("/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "OK");
  Response ready = Get("/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "{\"status\": \"ready\"}");
  ASSERT_TRUE(listener_->SetReady(false).ok());
  EXPECT_EQ(Get("/ready").status, 503);
  EXPECT_EQ(Get("/nope").status, 404);
}

TEST_F(TestListenerTest, ClientTrustingAnotherCaIsRefused) {
  Request req;
  req.url = listener_->ingest_url();
  req.body = Envelope("pg_log");
  req.headers = {"Authorization: Bearer test-api-key", "Content-Type: application/json"};
  req.ca_file = listener_->wrong_ca_file();
  Response r = Perform(curl_, req);
  EXPECT_EQ(r.code, CURLE_PEER_FAILED_VERIFICATION) << r.error;
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
}

TEST_F(TestListenerTest, InjectedStatusIsAnsweredThenNormalServiceResumes) {
  ASSERT_TRUE(listener_->FailNext("status", 1, 503, 0, 7).ok());
  Response failed = Post(Envelope("pg_log"));
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.headers["retry-after"], "7");
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  ASSERT_TRUE(listener_->FailNext("status", 2, 500).ok());
  EXPECT_EQ(Post(Envelope("pg_log")).status, 500);
  EXPECT_EQ(Post(Envelope("pg_log")).status, 500);
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 2);
}

TEST_F(TestListenerTest, InjectedResetClosesTheConnectionWithoutAnAnswer) {
  ASSERT_TRUE(listener_->FailNext("reset", 1).ok());
  Response r = Post(Envelope("pg_log"));
  EXPECT_TRUE(r.code == CURLE_RECV_ERROR || r.code == CURLE_GOT_NOTHING ||
              r.code == CURLE_SSL_CONNECT_ERROR || r.code == CURLE_SEND_ERROR)
      << r.code << " " << r.error;
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 1);
}

TEST_F(TestListenerTest, InjectedHangTimesTheClientOutUntilCleared) {
  ASSERT_TRUE(listener_->FailNext("hang", -1).ok());
  Response r = Post(Envelope("pg_log"),
                    {"Authorization: Bearer test-api-key", "Content-Type: application/json"}, 300);
  EXPECT_EQ(r.code, CURLE_OPERATION_TIMEDOUT) << r.error;
  ASSERT_TRUE(listener_->ClearFailures().ok());
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 1);
}

TEST_F(TestListenerTest, InjectedDelayAnswersNormallyAfterwards) {
  ASSERT_TRUE(listener_->FailNext("delay", 1, 0, 0.2).ok());
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Post(Envelope("pg_log")).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  auto stats = listener_->StatsJson();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->find("\"delayed\": 1"), std::string::npos) << *stats;
}

TEST_F(TestListenerTest, RejectsUnknownFailureModes) {
  EXPECT_FALSE(listener_->FailNext("explode", 1).ok());
  EXPECT_FALSE(listener_->FailNext("status", 0).ok());
}

TEST_F(TestListenerTest, DrainsManyRequestsOverOneKeepAliveConnection) {
  ASSERT_TRUE(listener_->SetRateLimit(0).ok());
  constexpr int kRequests = 500;
  int ok = 0;
  for (int i = 0; i < kRequests; ++i) ok += Post(Envelope("system_metrics")).status == 200;
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(listener_->WaitForStoredCount(kRequests, 5s).value_or(-1), kRequests);
  auto stats = listener_->StatsJson();
  ASSERT_TRUE(stats.ok());
  EXPECT_NE(stats->find("\"connections\": 1,"), std::string::npos) << *stats;
}

TEST(TestListenerLifecycleTest, PlainHttpListenerWorksAndStopsOnDestruction) {
  TestListenerOptions options;
  options.plain_http = true;
  options.api_key = "plain-key";
  options.project = "plain-project";
  auto started = TestListener::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<TestListener> listener = std::move(started).value();
  EXPECT_EQ(listener->ingest_url(),
            "http://127.0.0.1:" + std::to_string(listener->port()) + "/ingest/postgres");
  CURL* curl = curl_easy_init();
  Request req;
  req.url = listener->ingest_url();
  req.body = Envelope("pg_log");
  req.headers = {"Authorization: Bearer plain-key", "Content-Type: application/json"};
  EXPECT_EQ(Perform(curl, req).status, 200);
  listener.reset();
  Response after = Perform(curl, req);
  EXPECT_EQ(after.code, CURLE_COULDNT_CONNECT) << after.error;
  curl_easy_cleanup(curl);
}

TEST(TestListenerLifecycleTest, AFullStoreAnswers503UntilTheRowsAreCleared) {
  TestListenerOptions options;
  options.plain_http = true;
  options.max_stored_bytes = 1;  // full after the first stored row
  auto started = TestListener::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<TestListener> listener = std::move(started).value();
  CURL* curl = curl_easy_init();
  Request req;
  req.url = listener->ingest_url();
  req.body = Envelope("pg_log");
  req.headers = {"Authorization: Bearer test-api-key", "Content-Type: application/json"};
  EXPECT_EQ(Perform(curl, req).status, 200);
  Response full = Perform(curl, req);
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.headers["retry-after"], "1");
  EXPECT_EQ(listener->StoredCount().value_or(-1), 1);  // the refused body was not stored
  ASSERT_TRUE(listener->ClearStored().ok());
  EXPECT_EQ(Perform(curl, req).status, 200);
  EXPECT_EQ(listener->CountWithStatus(503).value_or(-1), 1);
  curl_easy_cleanup(curl);
}

TEST(TestListenerLifecycleTest, ListenerExitsWhenTheTestProcessDies) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A "crashing" test binary: starts a listener and dies without any cleanup.
    close(fds[0]);
    auto listener = TestListener::Start();
    std::string report = listener.ok() ? (*listener)->base_url() + " " + (*listener)->ca_file()
                                       : std::string("failed");
    ssize_t ignored = write(fds[1], report.data(), report.size());
    (void)ignored;
    _exit(listener.ok() ? 0 : 1);
  }
  close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << report;
  Request req;
  req.method = "GET";
  req.url = report.substr(0, report.find(' ')) + "/health";
  const std::string ca_file = report.substr(report.find(' ') + 1);
  CURL* curl = curl_easy_init();
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {  // bounded: 10 s
    gone = Perform(curl, req).code == CURLE_COULDNT_CONNECT;
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  curl_easy_cleanup(curl);
  EXPECT_TRUE(gone) << req.url;
  EXPECT_TRUE(Eventually([&] { return !std::filesystem::exists(ca_file); })) << ca_file;
}

TEST(TestListenerLifecycleTest, WaitForStoredCountGivesUpAfterTheTimeout) {
  auto started = TestListener::Start();
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto waited = (*started)->WaitForStoredCount(1, 100ms);
  EXPECT_EQ(waited.status().code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace pgagent::testing
