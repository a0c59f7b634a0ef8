// SPDX-License-Identifier: GPL-3.0-or-later
// The run store's schema: its versions as SQL, and the migration that brings a file up to date
// (internal to core/store; torch-free).
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

namespace mola::store_detail {

// Element i turns schema version i into i + 1; element 0 creates the tables in an empty file.
const std::vector<std::string>& schemaMigrations();

// Brings the file from its schema version to steps.size(), all steps in one transaction, so a
// failed step leaves the file at its old version; throws StoreError (another program's file, a
// newer schema) or SqliteFailure.
void migrate(sqlite3* db, const std::filesystem::path& path, const std::vector<std::string>& steps);

}  // namespace mola::store_detail
