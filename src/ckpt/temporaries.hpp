#pragma once
// What a killed writer leaves behind: "<name>.tmp.<pid>.<n>" files and folders (core's
// AtomicFile, temp_path_beside) and "step-N.tmp/" (a training checkpoint being written). The
// trainer removes them at start (it holds its checkpoint folder's lock, so none is in use).
#include <filesystem>
#include <string>
#include <vector>

namespace xmtf::ckpt {

bool is_temporary_name(const std::string& file_name);

// Removes the temporaries directly in `folder` (not below), files or folders; with a prefix only
// those of that name ("<prefix>.tmp..."), so a folder shared with others loses only ours; returns what was removed. A missing folder holds none.
std::vector<std::filesystem::path> remove_temporaries(const std::filesystem::path& folder,
                                                      const std::string& prefix = "");

}  // namespace xmtf::ckpt
