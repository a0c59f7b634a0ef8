// SPDX-License-Identifier: GPL-3.0-or-later
// Precompiled header for translation units that use LibTorch (mola::core, its tests, the CLI).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <vector>
