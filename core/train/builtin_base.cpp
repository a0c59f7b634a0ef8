// SPDX-License-Identifier: GPL-3.0-or-later
// Pretraining the built-in base with the Trainer (method "full") and caching the result.
#include "train/builtin_base.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <torch/utils.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "fault_injection.h"
#include "model/checkpoint_loader.h"
#include "model/safetensors.h"
#include "train/checkpoint_files.h"
#include "train/trainer.h"

namespace mola {

namespace {

namespace fs = std::filesystem;

// The recipe below, versioned: a change to it must change the file name.
constexpr const char* kBaseFile = "tiny-base-v3.safetensors";

// Full training on the category task, answers written out ("Answer: red."): 300 steps reach an
// accuracy of about 0.97 on held-out questions, so the base knows the prompt format and can pick
// an option by its words. Adapters then teach it a new task (the quickstart: antonyms).
ExperimentConfig pretrainingRecipe() {
  ExperimentConfig c;
  c.name = "builtin tiny base";
  c.model = "builtin:tiny:0";
  c.device = "cpu";
  c.method = "full";
  c.train.path = "synthetic:category:4000:11";
  c.prompt_template = "compact-text";
  c.cutoff = 160;             // the longest prompts with their answer fit: nothing is cut
  c.train_on_prompt = false;  // the answer, not the template, is what must be learnt
  c.batch_size = 16;
  c.max_steps = 300;
  c.lr = 3e-3;
  c.warmup_steps = 20;
  c.dropout = 0.0;
  c.router_stats_interval = 0;
  c.seed = 1;
  return c;
}

// Reports the pretraining's steps, holds it while paused, and stops it when asked.
struct Progress : TrainingObserver {
  const BasePreparation& preparation;
  Trainer& trainer;
  std::string message;
  Progress(const BasePreparation& p, Trainer& t) : preparation(p), trainer(t) {}
  bool stopRequested() const { return preparation.stop && preparation.stop(); }
  void stepFinished(const StepMetrics& m) override {
    faultPoint("pretraining.step");
    if (preparation.progress) preparation.progress(m.step, m.total_steps);
    while (preparation.paused && preparation.paused() && !stopRequested())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (stopRequested()) trainer.requestStop();
  }
  void finished(TrainOutcome, const std::string& m) override { message = m; }
};

// An exclusive flock on the cache's lock file while one process trains the base; the others wait
// here (checking for a stop request) and then find the finished file.
class CacheLock {
 public:
  CacheLock(const fs::path& file, const BasePreparation& preparation) {
    m_fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
      throw std::runtime_error(file.string() + ": cannot be created (" +
                               std::generic_category().message(errno) + ")");
    while (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
      if (preparation.stop && preparation.stop()) {
        ::close(m_fd);
        throw BasePreparationStopped(
            "stopped while waiting for another process to prepare the "
            "built-in base");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~CacheLock() { ::close(m_fd); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int m_fd = -1;
};

}  // namespace

fs::path userDataDir() {
  if (const char* d = std::getenv("MOLA_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "mola-workbench";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".local" / "share" / "mola-workbench";
  return fs::temp_directory_path() / "mola-workbench";
}

fs::path ensurePretrainedTinyBase(const BasePreparation& preparation) {
  const fs::path dir = userDataDir();
  const fs::path file = dir / kBaseFile;
  if (fs::exists(file)) return file;
  fs::create_directories(dir);
  const CacheLock lock(dir / "tiny-base.lock", preparation);
  if (fs::exists(file)) return file;  // another process made it while this one waited
  const fs::path work = dir / "tiny-base-training";
  fs::remove_all(work);
  Trainer trainer(pretrainingRecipe(), work);
  Progress observer(preparation, trainer);
  trainer.addObserver(&observer);
  const TrainOutcome outcome = trainer.run();
  if (outcome == TrainOutcome::Stopped) {
    fs::remove_all(work);
    throw BasePreparationStopped("stopped while preparing the built-in base");
  }
  if (outcome != TrainOutcome::Completed)
    throw std::runtime_error("training the built-in base failed: " + observer.message);
  const fs::path weights = work / "checkpoints" /
                           ("step-" + std::to_string(pretrainingRecipe().max_steps)) /
                           CheckpointFiles::kWeights;
  fs::rename(weights, file);  // same directory tree: atomic
  fs::remove_all(work);
  return file;
}

void saveFullWeights(LlamaModel& model, const fs::path& file) {
  std::vector<at::Tensor> keep;  // owns the bytes until the file is written
  std::vector<SafetensorsTensorView> views;
  for (const auto& p : model->named_parameters()) {
    keep.push_back(p.value().detach().to(at::kCPU, at::kFloat).contiguous());
    views.push_back({p.key(), "F32",
                     std::vector<int64_t>(p.value().sizes().begin(), p.value().sizes().end()),
                     keep.back().data_ptr()});
  }
  writeSafetensors(file, views, {{"format", "mola-full-weights"}});
}

void loadFullWeights(LlamaModel& model, const fs::path& file) {
  const SafetensorsFile f = SafetensorsFile::open(file);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    const SafetensorsEntry* e = f.find(p.key());
    if (!e) throw std::runtime_error(file.string() + ": tensor '" + p.key() + "' is missing");
    if (e->dtype != "F32")
      throw std::runtime_error(file.string() + ": tensor '" + p.key() + "' is not F32");
    const at::Tensor src = at::from_blob(const_cast<std::byte*>(f.data(*e)), e->shape, at::kFloat);
    if (!src.sizes().equals(p.value().sizes()))
      throw std::runtime_error(file.string() + ": tensor '" + p.key() + "' has the wrong shape");
    p.value().copy_(src);
  }
}

LlamaModel loadModelOrBuiltin(const std::string& path, c10::ScalarType dtype,
                              const BasePreparation& preparation) {
  if (path != kPretrainedTinyModel) return loadModel(path, dtype);
  const fs::path weights = ensurePretrainedTinyBase(preparation);
  LlamaModel model = builtinTinyModel(0);
  loadFullWeights(model, weights);
  model->to(dtype);
  return model;
}

}  // namespace mola
