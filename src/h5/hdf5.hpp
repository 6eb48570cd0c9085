#pragma once
// Thin RAII over the HDF5 C API (hid_t handles) and the few helpers the tokenized-shard format
// needs. HDF5's own error printing is silenced; failures become xmtf::Error with the innermost
// HDF5 message appended.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>

namespace xmtf::h5 {

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Silences HDF5's automatic error printing (once per process).
void quiet_hdf5_errors();
// The innermost message of HDF5's current error stack ("" when empty).
std::string last_hdf5_error();
// Throws xmtf::Error("<what>: <hdf5 message>") when id < 0; returns it wrapped otherwise.
Handle check(hid_t id, const std::string& what);
void check_status(herr_t status, const std::string& what);

bool link_exists(hid_t location, const char* name);

void write_string_attribute(hid_t location, const char* name, const std::string& value);
void write_int64_attribute(hid_t location, const char* name, std::int64_t value);
// Readers accept fixed- or variable-length strings and any integer type; xmtf::Error otherwise.
std::string read_string_attribute(hid_t location, const char* name);
std::int64_t read_int64_attribute(hid_t location, const char* name);

}  // namespace xmtf::h5
