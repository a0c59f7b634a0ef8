// SPDX-License-Identifier: GPL-3.0-or-later
// A study's runs into the queue.
#include "study/study_queue.h"

#include <stdexcept>

#include "store/run_launch.h"

namespace mola {

StudyAdded queueStudy(RunStore& store, const StudySpec& spec) {
  std::vector<QueuedRun> queued;
  for (const StudyRun& r : expandStudy(spec))
    queued.push_back({r.variant, static_cast<int64_t>(r.seed), r.config.name,
                      experimentToJson(r.config), storedAllocation(r.config), r.config.model});
  return store.addStudy(spec.name, studyToJson(spec), spec.baseline, queued);
}

StudySpec storedStudy(const RunStore& store, int64_t study) {
  const StudyRecord record = store.study(study);
  // Paths in the stored base are absolute already: the base folder does not matter.
  return parseStudy(record.spec_json, "study " + std::to_string(study), "/");
}

StudyAdded addVariantToStudy(RunStore& store, int64_t study, const std::string& name,
                             const std::string& allocation, const std::string& description) {
  StudySpec spec = storedStudy(store, study);
  for (const StudyVariant& v : spec.variants)
    if (v.name == name)
      throw std::invalid_argument("study '" + spec.name + "' already has a variant named '" + name +
                                  "'");
  spec.variants.push_back(
      {name, {"adapter.method=mola", "adapter.allocation=" + allocation}, description});
  return queueStudy(store, spec);
}

}  // namespace mola
