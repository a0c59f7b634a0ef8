// SPDX-License-Identifier: GPL-3.0-or-later
// What the run store checks before it writes to a file: that an existing file is a healthy run
// store this program can read, and that its folder takes the -wal and -shm files (internal to
// core/store; torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace mola::store_detail {

// PRAGMA application_id of a run store: 'MOLA'. Files without it are another program's.
constexpr int32_t kApplicationId = 0x4D4F4C41;

// A file: URI for `path` (absolute, percent-encoded, so that '?' or '#' in a name stay part of
// it), with `query` (e.g. "mode=ro").
std::string fileUri(const std::filesystem::path& path, const char* query);
// The folder of `path` ("." for a bare file name).
std::filesystem::path parentFolder(const std::filesystem::path& path);

// Opens an existing file of `size` bytes read-only (through SQLite alone) and throws a StoreError
// that says the file was left unchanged when it is not SQLite, is damaged, is another program's
// database, or has a schema newer than `supported`. Writes nothing.
void inspectExisting(const std::filesystem::path& path, uintmax_t size, size_t supported);

// Throws when a database at `path` could not be created (file_exists false) or written.
void checkFolderWritable(const std::filesystem::path& path, bool file_exists);

}  // namespace mola::store_detail
