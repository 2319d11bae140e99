#include "collectord/system/proc_fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pgagent::system {
namespace {

// A temporary directory standing in for "/", removed at the end of each test.
class RealProcFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::temp_directory_path() / "pgagent-procfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ / "proc" / "42");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(const std::string& relative, const std::string& text) {
    std::ofstream out(root_ / relative, std::ios::binary);
    out << text;
  }

  std::filesystem::path root_;
};

TEST_F(RealProcFsTest, ReadsAFileUnderTheRoot) {
  Write("proc/loadavg", "0.07 0.05 0.01 1/97 9136\n");
  RealProcFs fs(root_.string() + "/");
  Result<std::string> text = fs.ReadFile("/proc/loadavg");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "0.07 0.05 0.01 1/97 9136\n");
}

TEST_F(RealProcFsTest, ReadsFilesLargerThanTheInitialBufferWhole) {
  std::string big(200 * 1024 + 7, 'x');
  for (size_t i = 0; i < big.size(); i += 100) big[i] = '\n';
  Write("proc/big", big);
  RealProcFs fs(root_.string());
  Result<std::string> text = fs.ReadFile("/proc/big");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, big);
  Write("proc/empty", "");
  EXPECT_EQ(*fs.ReadFile("/proc/empty"), "");
}

TEST_F(RealProcFsTest, MissingFileIsNotFound) {
  RealProcFs fs(root_.string());
  Result<std::string> text = fs.ReadFile("/proc/pressure/cpu");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kNotFound);
  EXPECT_NE(text.status().message().find("/proc/pressure/cpu"), std::string::npos);
}

TEST_F(RealProcFsTest, ListsDirectoryEntriesWithoutDotEntries) {
  Write("proc/stat", "cpu 1 2 3 4\n");
  RealProcFs fs(root_.string());
  Result<std::vector<std::string>> names = fs.ListDir("/proc");
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"42", "stat"}));
  EXPECT_EQ(fs.ListDir("/nope").status().code(), StatusCode::kNotFound);
}

TEST_F(RealProcFsTest, StatFsOfTheRootReportsAFilesystemWithBlocks) {
  RealProcFs fs(root_.string());
  Result<FsStats> st = fs.StatFs("/");
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->fragment_size, 0u);
  EXPECT_GT(st->blocks, 0u);
  EXPECT_LE(st->blocks_avail, st->blocks_free);
  EXPECT_LE(st->blocks_free, st->blocks);
  EXPECT_EQ(fs.StatFs("/does/not/exist").status().code(), StatusCode::kNotFound);
}

TEST_F(RealProcFsTest, ReadsTheRealProcOfThisMachineWithTheDefaultRoot) {
  RealProcFs fs;
  Result<std::string> text = fs.ReadFile("/proc/self/stat");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->rfind(std::to_string(::getpid()) + " (", 0), 0u) << *text;
}

}  // namespace
}  // namespace pgagent::system
