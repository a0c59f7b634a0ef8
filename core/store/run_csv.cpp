// SPDX-License-Identifier: GPL-3.0-or-later
#include "store/run_csv.h"

#include <fstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "store/run_store.h"
#include "text.h"

namespace mola {

namespace fs = std::filesystem;

std::vector<std::string> exportRunCsv(const RunStore& store, int64_t id, const fs::path& dir) {
  store.run(id);  // an unknown id fails before anything is written
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir.string() + ": cannot be created: " + ec.message());
  std::vector<std::string> written;
  // Through a temporary file renamed into place: a full disk leaves no half file.
  const auto write = [&](const char* name, const std::function<void(std::ostream&)>& rows) {
    const fs::path target = dir / name;
    const fs::path part = dir / (std::string(name) + ".part");
    {
      std::ofstream f(part);
      rows(f);
      f.flush();
      if (!f) {
        fs::remove(part, ec);
        throw std::runtime_error(target.string() + ": cannot be written");
      }
    }
    fs::rename(part, target, ec);
    if (ec) {
      fs::remove(part, ec);
      throw std::runtime_error(target.string() + ": cannot be written: " + ec.message());
    }
    written.push_back(name);
  };
  write("metrics.csv", [&](std::ostream& f) {
    f << "step,name,value\n";
    for (const MetricPoint& m : store.metrics(id))
      f << m.step << ',' << csvField(m.name) << ',' << csvNumber(m.value) << '\n';
  });
  write("router_stats.csv", [&](std::ostream& f) {
    f << "step,layer,expert,token_fraction,mean_probability,entropy,load_cv\n";
    for (const RouterStatsSnapshot& s : store.routerStats(id))
      for (const LayerRouterStats& l : s.layers)
        for (size_t i = 0; i < l.token_fraction.size(); ++i)
          f << s.step << ',' << l.layer << ',' << i << ',' << csvNumber(l.token_fraction[i]) << ','
            << csvNumber(i < l.mean_probability.size() ? l.mean_probability[i]
                                                       : std::numeric_limits<double>::quiet_NaN())
            << ',' << csvNumber(l.entropy) << ',' << csvNumber(l.load_cv) << '\n';
  });
  write("eval_scores.csv", [&](std::ostream& f) {
    f << "step,benchmark,split,protocol,accuracy,n,ci_low,ci_high\n";
    for (const EvalScore& s : store.evalScores(id))
      f << s.step << ',' << csvField(s.benchmark) << ',' << csvField(s.split) << ','
        << csvField(s.protocol) << ',' << csvNumber(s.accuracy) << ',' << s.n << ','
        << csvNumber(s.ci_low) << ',' << csvNumber(s.ci_high) << '\n';
  });
  return written;
}

}  // namespace mola
