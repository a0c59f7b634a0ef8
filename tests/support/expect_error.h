// SPDX-License-Identifier: GPL-3.0-or-later
// expectErrorContaining: the call must throw E, and its message must contain a given text.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace mola::test {

template <typename E, typename F>
void expectErrorContaining(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

}  // namespace mola::test
