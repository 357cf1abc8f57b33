// apps/ffview.cpp — `ffview`: open a model in the browser viewer (viewer/index.html over the runtime in WebAssembly).
//
//   ffview runs/demo/checkpoints/step_00008000.ffck              # serves http://127.0.0.1:8765/ and prints it
//   ffview face.ffpk --fit fit_me/fit.json,fit_you/fit.json      # fitted faces join the interpolation picker
//   ffview --port 0 face.ffpk                                    # any free port
//   make view MODEL=runs/demo/checkpoints/step_00008000.ffck
// What the page needs is exported into memory, nothing is written: a checkpoint becomes a model pack (generator +
// decoders + codes + positions, train::model_pack, as `export`), a pack is served as it is; fit.json files
// (fit_image) become fits.json = [{name, code, positions|null}] (positions from the fit's face.ply when it has the
// model's Gaussian count). The page's files (index.html, viewer.js, facefield.js, facefield.wasm) come from the
// build's viewer/ folder (target `viewer`, needs emscripten) or --web. The server listens on 127.0.0.1 only, answers
// GET for those files, one request at a time, and runs until interrupted.
#ifdef FF_HAVE_RUNTIME
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "apps/common/cli.h"
#include "apps/common/model_runtime.h"

using namespace ff;
namespace fs = std::filesystem;

namespace {

std::string fits_json(const std::vector<std::string>& paths, int code_dim, int num_gaussians) {
  std::string j = "[";
  char num[32];
  auto floats = [&](const std::vector<float>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      std::snprintf(num, sizeof num, "%s%.9g", i ? "," : "", double(v[i]));
      s += num;
    }
    return s + "]";
  };
  for (size_t k = 0; k < paths.size(); ++k) {
    apps::CodeFile cf = apps::read_code_file(paths[k], code_dim, num_gaussians);
    std::string name = fs::path(paths[k]).parent_path().filename().string();
    if (name.empty()) name = paths[k];
    std::string quoted;
    for (char c : name)
      if (c == '"' || c == '\\') quoted += '\\', quoted += c;
      else if (static_cast<unsigned char>(c) >= 0x20) quoted += c;
    j += std::string(k ? "," : "") + "{\"name\":\"" + quoted + "\",\"code\":" + floats(cf.code) +
         ",\"positions\":" + (cf.xyz.empty() ? "null" : floats(cf.xyz)) + "}";
  }
  return j + "]";
}

void send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // the browser went away: nothing to do
    off += size_t(n);
  }
}

void respond(int fd, int code, const std::string& type, const std::string& body) {
  const char* what = code == 200 ? "OK" : code == 404 ? "Not Found" : "Bad Request";
  send_all(fd, "HTTP/1.0 " + std::to_string(code) + " " + what + "\r\nContent-Type: " + type +
                   "\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace

int main(int argc, char** argv) {
  apps::start_program(argv);
  try {
    apps::Options o("usage: ffview MODEL [--fit FIT.json,...] [--port N] [--web DIR]\n\n"
                    "Serves facefield's browser viewer with a model (checkpoint .ffck or identity pack .ffpk) on\n"
                    "127.0.0.1 and prints the URL: orbit/zoom, identity picker, interpolation between identities\n"
                    "and fitted faces, drag-and-drop of .ffpk / face.ply / .splat, screenshots.",
                    {{"model", "", "checkpoint (.ffck) or identity pack (.ffpk); or give it first, without --model"},
                     {"fit", "", "fit_image results (fit.json, comma-separated) to offer beside the identities"},
                     {"port", "8765", "TCP port on 127.0.0.1 (0: any free port)"},
                     {"web", "", "folder with index.html, viewer.js, facefield.js, facefield.wasm (default: the "
                                 "build's viewer/ beside this program)"},
                     {"threads", "0", "CPU threads for exporting a checkpoint (0: all)"}});
    // `ffview MODEL …`: a first argument that is not an option is the model
    std::vector<char*> args(argv, argv + argc);
    std::string model_arg;
    if (argc > 1 && argv[1][0] != '-') {
      model_arg = argv[1];
      args.erase(args.begin() + 1);
    }
    if (!o.parse(int(args.size()), args.data())) return 0;
    const std::string model = model_arg.empty() ? o.str("model") : model_arg;
    FF_CHECK(!model.empty(), "no model: ffview MODEL (see --help)");
    FF_CHECK(model_arg.empty() || !o.was_given("model"), "give the model once (first argument or --model)");
    const int port = int(o.integer("port", 0, 65535));
    const int threads = o.threads();

    fs::path web = o.str("web");
    if (web.empty()) web = fs::canonical("/proc/self/exe").parent_path() / "viewer";
    std::map<std::string, std::pair<std::string, std::string>> files;  // URL path → (type, bytes)
    for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
             {"index.html", "text/html; charset=utf-8"}, {"viewer.js", "text/javascript"},
             {"facefield.js", "text/javascript"}, {"facefield.wasm", "application/wasm"}}) {
      const fs::path p = web / name;
      FF_CHECK(fs::exists(p), "the viewer's page is incomplete: ", p.string(), " is missing (build the target `viewer`, ",
               "which needs emscripten: scripts/setup.sh; or pass --web DIR)");
      files["/" + name] = {type, read_file(p.string())};
    }
    files["/"] = files["/index.html"];

    // the model: a pack as it is (checked by opening it), a checkpoint exported to a model pack
    Context ctx(0, threads);
    std::string pack;
    auto m = apps::open_model(ctx, model, threads);
    const std::string bytes = read_file(model);
    if (ffrt::is_pack(bytes)) {
      pack = bytes;
    } else {
      FF_CHECK(m->file.model, model, " is neither an identity pack nor a checkpoint with its layout");
      pack = ffrt::pack_bytes(train::model_pack(m->file));
    }
    files["/model.ffpk"] = {"application/octet-stream", pack};
    const std::vector<std::string> fit_paths = o.list("fit");
    FF_CHECK(fit_paths.empty() || m->rt.info.has_generator, "--fit needs a model with a generator; ", model,
             " holds decoded Gaussians");
    files["/fits.json"] = {"application/json",
                           fits_json(fit_paths, m->rt.info.code_dim, m->rt.info.num_gaussians)};

    const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    FF_CHECK(sock >= 0, "socket: ", std::strerror(errno));
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FF_CHECK(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "cannot listen on 127.0.0.1:", port,
             ": ", std::strerror(errno), " (another program on that port? try --port 0)");
    FF_CHECK(::listen(sock, 16) == 0, "listen: ", std::strerror(errno));
    socklen_t len = sizeof addr;
    ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("ffview: %s: %d identities, %d Gaussians%s, %zu fitted faces, %.1f MB\n", model.c_str(),
                m->rt.info.num_identities, m->rt.info.num_gaussians, m->rt.info.has_generator ? "" : " (decoded)",
                fit_paths.size(), double(pack.size()) / 1e6);
    std::printf("ffview: open http://127.0.0.1:%d/ (Ctrl-C to stop)\n", int(ntohs(addr.sin_port)));
    std::fflush(stdout);

    for (;;) {
      const int fd = ::accept(sock, nullptr, nullptr);
      if (fd < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, size_t(n));
      }
      std::string path;
      if (req.compare(0, 4, "GET ") == 0) path = req.substr(4, req.find(' ', 4) - 4);
      path = path.substr(0, path.find('?'));
      auto it = files.find(path);
      if (path.empty()) respond(fd, 400, "text/plain", "ffview answers GET only\n");
      else if (it == files.end()) respond(fd, 404, "text/plain", path + ": not here\n");
      else respond(fd, 200, it->second.first, it->second.second);
      ::close(fd);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ffview: error: %s\n", apps::failure_message(e).c_str());
    return apps::exit_status(e);
  }
}
#else
#include <cstdio>
int main() {
  std::fprintf(stderr, "ffview: built without runtime/ (add `add_subdirectory(runtime)` to CMakeLists.txt)\n");
  return 1;
}
#endif
