// SPDX-License-Identifier: GPL-3.0-or-later
// c10d behind RankGroup: TCPStore, ProcessGroupGloo / ProcessGroupNCCL, and the heartbeat.
#include "dist/rank_group.h"

#include <ATen/ATen.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#ifdef MOLA_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef MOLA_HAVE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace mola {

namespace {

// LibTorch 2 split the backends (Gloo, NCCL) from the ProcessGroup that dispatches to them.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

constexpr auto kBeatPeriod = std::chrono::milliseconds(250);
constexpr auto kBeatSilence = std::chrono::milliseconds(2000);

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}
std::string text(const std::vector<uint8_t>& b) {
  return {b.begin(), b.end()};
}

std::string beatKey(int rank) {
  return "mola/beat/" + std::to_string(rank);
}

c10::intrusive_ptr<c10d::TCPStore> connectStore(const DistEnv& env, bool server,
                                                std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = uint16_t(env.master_port);
  o.isServer = server;
  o.waitWorkers = false;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
}

bool loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

struct RankGroup::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<Backend> backend;
  std::string backend_name;
  std::chrono::milliseconds timeout{};
  std::thread heartbeat;
  std::mutex beat_mutex;
  std::condition_variable beat_wake;
  bool beat_stop = false;

  // The tensor a collective carries: `t` itself, or a CUDA copy of a CPU tensor (a loss, a
  // count) for NCCL, which sums CUDA tensors only.
  at::Tensor onWire(const at::Tensor& t) const {
    if (!backend) throw std::logic_error("RankGroup: no backend started");
    return backend_name == "nccl" && !t.is_cuda() ? t.to(c10::Device(c10::kCUDA)) : t;
  }

  void beat(const DistEnv& env) {
    // Its own connection: the store's client is not shared across threads.
    c10::intrusive_ptr<c10d::TCPStore> own;
    try {
      own = connectStore(env, false, timeout);
    } catch (const std::exception&) {
      return;
    }
    for (uint64_t n = 1;; ++n) {
      try {
        own->set(beatKey(env.rank), bytes(std::to_string(n)));
      } catch (const std::exception&) {
        return;  // the store is gone: rank 0 ended or died; the collectives will say so
      }
      std::unique_lock lock(beat_mutex);
      if (beat_wake.wait_for(lock, kBeatPeriod, [this] { return beat_stop; })) return;
    }
  }
  void stopBeat() {
    {
      std::lock_guard lock(beat_mutex);
      beat_stop = true;
    }
    beat_wake.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  // The ranks whose heartbeat stood still for kBeatSilence, read through a fresh connection.
  std::string silentRanks(const DistEnv& env) const {
    std::vector<std::string> first(size_t(env.world)), gone;
    try {
      const auto probe = connectStore(env, false, std::chrono::milliseconds(5000));
      for (int r = 0; r < env.world; ++r) first[size_t(r)] = text(probe->get(beatKey(r)));
      std::this_thread::sleep_for(kBeatSilence);
      for (int r = 0; r < env.world; ++r)
        if (r != env.rank && text(probe->get(beatKey(r))) == first[size_t(r)])
          gone.push_back(std::to_string(r));
    } catch (const std::exception&) {
      return env.rank == 0 ? ""
                           : "rank 0 (which hosts the run's store at " + env.master_addr + ":" +
                                 std::to_string(env.master_port) + ")";
    }
    if (gone.empty()) return "";
    std::string names = gone.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < gone.size(); ++i) names += (i ? ", " : "") + gone[i];
    return names;
  }
};

RankGroup::RankGroup(const DistEnv& env, std::chrono::seconds timeout)
    : m_env(env), m(std::make_unique<Impl>()) {
  m->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    m->store = connectStore(env, env.rank == 0, m->timeout);
    m->store->set(beatKey(env.rank), bytes("0"));
    // Every rank has arrived once each has beaten once.
    std::vector<std::string> keys;
    for (int r = 0; r < env.world; ++r) keys.push_back(beatKey(r));
    m->store->wait(keys, m->timeout);
  } catch (const std::exception& e) {
    throw RankLostError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world) +
                        " could not meet the other ranks at " + where + " within " +
                        std::to_string(timeout.count()) + " s: " + e.what());
  }
  m->heartbeat = std::thread([this] { m->beat(m_env); });
#ifdef MOLA_HAVE_NCCL
  // One device per local rank: "cuda" means this rank's from here on.
  if (at::hasCUDA() && m_env.local_rank < int(c10::cuda::device_count()))
    c10::cuda::set_device(c10::DeviceIndex(m_env.local_rank));
#endif
}

RankGroup::~RankGroup() {
  m->stopBeat();
}

void RankGroup::startBackend(const c10::Device& device) {
  if (m->backend) {
    if ((m->backend_name == "nccl") != device.is_cuda())
      throw std::logic_error("RankGroup: the " + m->backend_name + " backend is started; " +
                             device.str() + " needs the other");
    return;
  }
  if (device.is_cuda()) {
#ifdef MOLA_HAVE_NCCL
    if (device.index() >= 0) c10::cuda::set_device(device.index());
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = m->timeout;
    m->backend =
        c10::make_intrusive<c10d::ProcessGroupNCCL>(m->store, m_env.rank, m_env.world, options);
    m->backend_name = "nccl";
    return;
#else
    throw std::runtime_error(
        "this build of mola has no NCCL (LibTorch without CUDA, or nccl.h not found at build "
        "time): a multi-process run on CUDA devices needs it");
#endif
  }
#ifdef MOLA_HAVE_GLOO
  auto options = c10d::ProcessGroupGloo::Options::create(m->timeout);
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (loopback(m_env.master_addr))
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  try {
    m->backend =
        c10::make_intrusive<c10d::ProcessGroupGloo>(m->store, m_env.rank, m_env.world, options);
  } catch (const std::exception& e) {
    lost("connecting Gloo", e.what());
  }
  m->backend_name = "gloo";
#else
  throw std::runtime_error(
      "this build of mola has no Gloo (its headers, Debian's libgloo-dev, were not found at build "
      "time): a multi-process run on the CPU needs it");
#endif
}

std::string RankGroup::backendName() const {
  return m->backend_name;
}

void RankGroup::publish(const std::string& key, const std::string& value) {
  try {
    m->store->set("mola/" + key, bytes(value));
  } catch (const std::exception& e) {
    lost("publishing " + key, e.what());
  }
}

std::string RankGroup::fetch(const std::string& key) {
  try {
    return text(m->store->get("mola/" + key));
  } catch (const std::exception& e) {
    lost("waiting for " + key, e.what());
  }
}

std::vector<std::string> RankGroup::gatherText(const std::string& key, const std::string& mine) {
  publish(key + "/" + std::to_string(m_env.rank), mine);
  std::vector<std::string> all;
  for (int r = 0; r < m_env.world; ++r) all.push_back(fetch(key + "/" + std::to_string(r)));
  return all;
}

void RankGroup::allReduceSum(at::Tensor& tensor, const std::string& what) {
  allReduceSumAsync(tensor, what)();
}

std::function<void()> RankGroup::allReduceSumAsync(at::Tensor tensor, const std::string& what) {
  at::Tensor wire = m->onWire(tensor);
  try {
    std::vector<at::Tensor> list{wire};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    auto work = m->backend->allreduce(list, options);
    return [this, work, what, tensor, wire]() mutable {
      try {
        work->wait(m->timeout);
      } catch (const std::exception& e) {
        lost(what, e.what());
      }
      if (!wire.is_same(tensor)) tensor.copy_(wire);
    };
  } catch (const std::exception& e) {
    lost(what, e.what());
  }
}

void RankGroup::broadcast(at::Tensor& tensor, int root, const std::string& what) {
  at::Tensor wire = m->onWire(tensor);
  try {
    std::vector<at::Tensor> list{wire};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    m->backend->broadcast(list, options)->wait(m->timeout);
  } catch (const std::exception& e) {
    lost(what, e.what());
  }
  if (!wire.is_same(tensor)) tensor.copy_(wire);
}

void RankGroup::barrier(const std::string& what) {
  // A one-element sum: a barrier that works alike on Gloo and NCCL.
  at::Tensor t = at::zeros({1});
  allReduceSum(t, what);
}

void RankGroup::close() noexcept {
  m->stopBeat();
  try {
    if (m->backend) barrier("the closing barrier");
  } catch (const std::exception&) {
  }
}

void RankGroup::lost(const std::string& what, const std::string& cause) {
  const std::string who = m->silentRanks(m_env);
  throw RankLostError((who.empty() ? std::string("another rank") : who) + " is gone (" + what +
                      " on rank " + std::to_string(m_env.rank) + " failed: " + cause + ")");
}

}  // namespace mola
