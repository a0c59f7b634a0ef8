// SPDX-License-Identifier: GPL-3.0-or-later
// The `mola` subcommands that load models and data (each returns the process exit status).
#pragma once

#include "cli_args.h"

namespace mola::cli {

int cmdGenerate(const Args& args);
int cmdEval(const Args& args);
int cmdRoute(const Args& args);
int cmdDataCheck(const Args& args);
int cmdTrain(const Args& args);
int cmdResume(const Args& args);
int cmdRuns(const Args& args, const std::string& sub);
int cmdBench(const Args& args);
int cmdAdapterExportPeft(const Args& args);
int cmdMerge(const Args& args);
int cmdStudy(const Args& args, const std::string& sub);
int cmdQueue(const Args& args, const std::string& sub);
int cmdAdvise(const Args& args);

}  // namespace mola::cli
