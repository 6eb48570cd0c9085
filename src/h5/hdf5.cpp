#include "h5/hdf5.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "core/error.hpp"

namespace xmtf::h5 {

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: H5Idec_ref(id_); break;
  }
  id_ = H5I_INVALID_HID;
}

void quiet_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::string last_hdf5_error() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
        auto* out = static_cast<std::string*>(data);
        if (error->desc && *error->desc) *out = error->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  // A failed system call comes as "file write failed: time = ..., filename = ..., errno = 28,
  // error message = 'No space left on device', buf = ...": keep what it is and why.
  if (auto at = message.find("error message = '"); at != std::string::npos) {
    std::size_t start = at + 17, end = message.find('\'', start);
    message = message.substr(0, message.find(':')) + ": " + message.substr(start, end - start);
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

Handle check(hid_t id, const std::string& what) {
  if (id < 0) {
    std::string detail = last_hdf5_error();
    fail("{}{}{}", what, detail.empty() ? "" : ": ", detail);
  }
  return Handle(id);
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) {
    std::string detail = last_hdf5_error();
    fail("{}{}{}", what, detail.empty() ? "" : ": ", detail);
  }
}

bool link_exists(hid_t location, const char* name) {
  htri_t exists = H5Lexists(location, name, H5P_DEFAULT);
  if (exists < 0) last_hdf5_error();  // clears the stack
  return exists > 0;
}

void write_string_attribute(hid_t location, const char* name, const std::string& value) {
  Handle type = check(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  Handle space = check(H5Screate(H5S_SCALAR), "H5Screate");
  Handle attribute = check(H5Acreate2(location, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           std::string("creating attribute ") + name);
  const char* data = value.c_str();
  check_status(H5Awrite(attribute.get(), type.get(), &data), std::string("writing attribute ") + name);
}

void write_int64_attribute(hid_t location, const char* name, std::int64_t value) {
  Handle space = check(H5Screate(H5S_SCALAR), "H5Screate");
  Handle attribute = check(H5Acreate2(location, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           std::string("creating attribute ") + name);
  check_status(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value), std::string("writing attribute ") + name);
}

namespace {

Handle open_scalar_attribute(hid_t location, const char* name) {
  htri_t exists = H5Aexists(location, name);
  if (exists <= 0) {
    last_hdf5_error();
    fail("attribute '{}' is missing", name);
  }
  Handle attribute = check(H5Aopen(location, name, H5P_DEFAULT), std::string("opening attribute ") + name);
  Handle space = check(H5Aget_space(attribute.get()), "H5Aget_space");
  if (H5Sget_simple_extent_npoints(space.get()) != 1) fail("attribute '{}' is not a single value", name);
  return attribute;
}

}  // namespace

std::string read_string_attribute(hid_t location, const char* name) {
  Handle attribute = open_scalar_attribute(location, name);
  Handle type = check(H5Aget_type(attribute.get()), "H5Aget_type");
  if (H5Tget_class(type.get()) != H5T_STRING) fail("attribute '{}' is not a string", name);
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle memory_type = check(H5Tcopy(H5T_C_S1), "H5Tcopy");
    H5Tset_size(memory_type.get(), H5T_VARIABLE);
    H5Tset_cset(memory_type.get(), H5Tget_cset(type.get()));
    char* data = nullptr;
    check_status(H5Aread(attribute.get(), memory_type.get(), &data), std::string("reading attribute ") + name);
    std::string value = data ? data : "";
    H5free_memory(data);
    return value;
  }
  std::size_t size = H5Tget_size(type.get());
  if (size == 0 || size > (1u << 20)) fail("attribute '{}' has an implausible string size {}", name, size);
  std::vector<char> buffer(size + 1, '\0');
  check_status(H5Aread(attribute.get(), type.get(), buffer.data()), std::string("reading attribute ") + name);
  return std::string(buffer.data());
}

std::int64_t read_int64_attribute(hid_t location, const char* name) {
  Handle attribute = open_scalar_attribute(location, name);
  Handle type = check(H5Aget_type(attribute.get()), "H5Aget_type");
  if (H5Tget_class(type.get()) != H5T_INTEGER) fail("attribute '{}' is not an integer", name);
  std::int64_t value = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), std::string("reading attribute ") + name);
  return value;
}

}  // namespace xmtf::h5
