// A LoadSignalSource that returns whatever the test set last. Not thread-safe: tests drive it
// from their own thread.
#pragma once

#include "collectord/system/load_signal.h"

namespace pgagent::system::testing {

class FakeLoadSignalSource final : public LoadSignalSource {
 public:
  void Set(LoadSignal signal) { signal_ = signal; }
  void SetError(Status status) { error_ = std::move(status); }
  Result<LoadSignal> Read() override {
    if (!error_.ok()) return error_;
    return signal_;
  }

 private:
  LoadSignal signal_;
  Status error_;
};

}  // namespace pgagent::system::testing
