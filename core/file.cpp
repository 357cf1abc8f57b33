#include "core/file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace ff {

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  std::string tmp = path + ".tmp." + std::to_string(long(::getpid()));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  FF_CHECK(f, "cannot open '", tmp, "' for writing: ", std::strerror(errno));
  size_t w = size ? std::fwrite(data, 1, size, f) : 0;
  bool ok = w == size && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    FF_THROW("writing '", tmp, "' failed (", w, " of ", size, " bytes): ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FF_THROW("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FF_CHECK(f, "cannot open '", path, "' for reading");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace ff
