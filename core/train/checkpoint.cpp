// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints: weights, optimizer, random state and position into a temporary folder, verified by
// a manifest, moved into place atomically; read back in the order a resume needs.
#include "train/checkpoint.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize.h>
#include <torch/serialize/archive.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "adapters/balance_loss.h"
#include "fault_injection.h"
#include "random_state.h"
#include "train/builtin_base.h"

namespace mola {

namespace fs = std::filesystem;

namespace {

std::string errnoText(int err) {
  return std::generic_category().message(err);
}

// Where LibTorch's serialisers write. After the first failed write it accepts (and drops) the
// rest: LibTorch's stream writer throws when a write comes up short and again from its destructor,
// which terminates the process while the first exception unwinds (a full disk used to abort
// training that way). finish() then reports the failure, naming the file.
class FileSink {
 public:
  explicit FileSink(fs::path file) : m_file(std::move(file)) {
    m_fd = ::open(m_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0)
      throw CheckpointError(m_file.string() + ": cannot be created (" + errnoText(errno) + ")");
  }
  ~FileSink() {
    if (m_fd >= 0) ::close(m_fd);
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  size_t write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    for (size_t left = n; left > 0 && m_error == 0;) {
      const ssize_t w = ::write(m_fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        m_error = w < 0 ? errno : ENOSPC;
        break;
      }
      p += w;
      left -= size_t(w);
    }
    return n;
  }
  std::function<size_t(const void*, size_t)> writer() {
    return [this](const void* data, size_t n) { return write(data, n); };
  }
  // Syncs and closes; throws CheckpointError when any write or the sync failed.
  void finish() {
    if (m_error == 0 && ::fsync(m_fd) != 0) m_error = errno;
    if (::close(std::exchange(m_fd, -1)) != 0 && m_error == 0) m_error = errno;
    if (m_error != 0) throw CheckpointError(m_file.string() + ": " + errnoText(m_error));
  }

 private:
  fs::path m_file;
  int m_fd = -1;
  int m_error = 0;
};

void writeTextFile(const fs::path& file, const std::string& text) {
  FileSink sink(file);
  sink.write(text.data(), text.size());
  sink.finish();
}

void writeRandomState(const fs::path& file, const RouterStatsAccumulator* router) {
  const RandomState random = captureRandomState();
  torch::serialize::OutputArchive archive;
  archive.write("rng.cpu", random.cpu);
  for (size_t i = 0; i < random.cuda.size(); ++i)
    archive.write("rng.cuda." + std::to_string(i), random.cuda[i]);
  if (router) router->save(archive);
  FileSink sink(file);
  archive.save_to(sink.writer());
  sink.finish();
}

// A LibTorch error without its C++ stack trace, which names no file and helps no user.
std::string torchMessage(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

}  // namespace

void writeCheckpoint(const fs::path& dir, const CheckpointParts& parts,
                     const CheckpointIdentity& identity) {
  const fs::path tmp = dir.string() + ".tmp";
  const int64_t step = parts.position.step;
  std::error_code ec;
  try {
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp);
    const bool full = parts.method == "full";
    const char* weights = full ? CheckpointFiles::kWeights : CheckpointFiles::kAdapter;
    if (full)
      saveFullWeights(*parts.model, tmp / weights);
    else
      (*parts.model)->saveAdapter(tmp / weights);
    {
      FileSink sink(tmp / CheckpointFiles::kOptimizer);
      torch::save(*parts.optimizer, sink.writer());
      sink.finish();
    }
    writeRandomState(tmp / CheckpointFiles::kRandomState, parts.router);
    const nlohmann::json state = {
        {"step", step},        {"epoch", parts.position.epoch}, {"cursor", parts.position.cursor},
        {"seed", parts.seed},  {"method", parts.method},        {"store_id", identity.store_id},
        {"run", identity.run}, {"world_size", parts.world_size}};
    writeTextFile(tmp / CheckpointFiles::kState, state.dump(2) + "\n");
    faultPoint("checkpoint.files");
    writeCheckpointManifest(tmp,
                            {weights, CheckpointFiles::kOptimizer, CheckpointFiles::kRandomState,
                             CheckpointFiles::kState},
                            step, identity);
    syncPath(tmp);
    faultPoint("checkpoint.manifest");
    installCheckpointFolder(tmp, dir);
    faultPoint("checkpoint.installed");
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    throw CheckpointError("the checkpoint of step " + std::to_string(step) +
                          " could not be written to " + dir.string() + " (" + torchMessage(e) +
                          "); its partial files were removed");
  }
}

CheckpointReader::CheckpointReader(fs::path dir, const CheckpointIdentity& expected)
    : m_dir(std::move(dir)) {
  if (const std::string problem = checkpointProblem(m_dir, expected); !problem.empty())
    throw CheckpointError("cannot resume from " + m_dir.string() + ": " + problem);
  const fs::path file = m_dir / CheckpointFiles::kState;
  std::ifstream in(file);
  const nlohmann::json state = nlohmann::json::parse(in, nullptr, false);
  try {
    if (state.is_discarded()) throw std::invalid_argument("not JSON");
    m_position.step = state.at("step").get<int64_t>();
    m_position.epoch = state.at("epoch").get<int64_t>();
    m_position.cursor = state.at("cursor").get<size_t>();
    m_world_size = state.value("world_size", 1);
  } catch (const std::exception& e) {
    throw CheckpointError(file.string() + ": cannot be read as a trainer state (" + e.what() + ")");
  }
}

void CheckpointReader::restoreModel(LlamaModel& model, const std::string& method) const {
  const fs::path file =
      m_dir / (method == "full" ? CheckpointFiles::kWeights : CheckpointFiles::kAdapter);
  try {
    if (method == "full")
      loadFullWeights(model, file);
    else
      model->loadAdapter(file);
  } catch (const std::exception& e) {
    throw CheckpointError(file.string() + ": cannot restore the weights: " + torchMessage(e));
  }
}

void CheckpointReader::restoreOptimizer(torch::optim::Optimizer& optimizer) const {
  const fs::path file = m_dir / CheckpointFiles::kOptimizer;
  try {
    torch::load(optimizer, file.string());
  } catch (const std::exception& e) {
    throw CheckpointError(file.string() +
                          ": cannot restore the optimizer state: " + torchMessage(e));
  }
}

void CheckpointReader::restoreRandomState(RouterStatsAccumulator* router,
                                          const c10::Device& device) const {
  const fs::path file = m_dir / CheckpointFiles::kRandomState;
  if (!fs::exists(file)) {
    // Written before random_state.pt: the CPU generator's bytes alone, in rng.bin.
    const fs::path legacy = m_dir / "rng.bin";
    std::ifstream in(legacy, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    if (bytes.empty()) throw CheckpointError(legacy.string() + ": missing or empty");
    setGeneratorState(
        at::kCPU,
        at::tensor(std::vector<int64_t>(bytes.begin(), bytes.end()), at::kLong).to(at::kByte));
    return;
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    RandomState random;
    archive.read("rng.cpu", random.cpu);
    for (size_t i = 0;; ++i) {
      at::Tensor t;
      if (!archive.try_read("rng.cuda." + std::to_string(i), t)) break;
      random.cuda.push_back(t);
    }
    if (router) router->load(archive, device);
    mola::restoreRandomState(random);
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(file.string() + ": cannot restore the random state: " + torchMessage(e));
  }
}

}  // namespace mola
