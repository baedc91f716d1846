#include "engine/manifest_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "engine/journal.h"

namespace converge {
namespace {

constexpr std::string_view kMagic = "converge compiled manifest 1\n";
constexpr int kMaxDepth = 64;           // nesting of list values
constexpr size_t kParallelFrom = 2000;  // resources: decoded in two halves from here on

// ---- writing ----

class Out {
 public:
  void u64(uint64_t v) {
    while (v >= 0x80) {
      b_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    b_.push_back(static_cast<char>(v));
  }
  void i64(int64_t v) {  // zigzag
    u64((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void str(std::string_view s) {
    u64(s.size());
    b_.append(s);
  }
  void value(const Value& v) {
    b_.push_back(static_cast<char>(v.kind()));
    switch (v.kind()) {
      case Value::Kind::kNull:
        break;
      case Value::Kind::kBool:
        b_.push_back(v.as_bool() ? 1 : 0);
        break;
      case Value::Kind::kInt:
        i64(v.as_int());
        break;
      case Value::Kind::kString:
        str(v.as_string());
        break;
      case Value::Kind::kList:
        u64(v.as_list().size());
        for (const auto& e : v.as_list()) value(e);
        break;
    }
  }
  void attrs(const AttrMap& m) {
    u64(m.size());
    for (const auto& [k, v] : m) {
      str(k);
      value(v);
    }
  }
  // Locations name the manifest itself nearly always: 0 then, else 1 and the file.
  void loc(const Loc& l, const std::string& self) {
    if (l.file == self) {
      u64(0);
    } else {
      u64(1);
      str(l.file);
    }
    i64(l.line);
    i64(l.column);
  }
  std::string take() { return std::move(b_); }
  void raw(std::string_view s) { b_.append(s); }

 private:
  std::string b_;
};

// ---- reading: every read is bounds-checked; any failure makes the entry a miss ----

class In {
 public:
  explicit In(std::string_view b) : b_(b) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && p_ == b_.size(); }
  size_t pos() const { return p_; }
  std::string_view rest() const { return b_.substr(p_); }
  void skip(size_t n) {
    if (n > b_.size() - p_)
      fail();
    else
      p_ += n;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= b_.size()) return fail();
      auto c = static_cast<unsigned char>(b_[p_++]);
      v |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    return fail();
  }
  int64_t i64() {
    uint64_t z = u64();
    return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
  }
  int int32() {
    int64_t v = i64();
    if (v < INT32_MIN || v > INT32_MAX) return static_cast<int>(fail());
    return static_cast<int>(v);
  }
  size_t count() {  // a length that must fit in what is left
    uint64_t n = u64();
    if (n > b_.size() - p_) return fail();
    return static_cast<size_t>(n);
  }
  std::string_view view() {
    size_t n = count();
    if (!ok_) return {};
    std::string_view s = b_.substr(p_, n);
    p_ += n;
    return s;
  }
  std::string str() { return std::string(view()); }
  unsigned char byte() {
    if (p_ >= b_.size()) return static_cast<unsigned char>(fail());
    return static_cast<unsigned char>(b_[p_++]);
  }
  bool literal(std::string_view s) {
    if (b_.substr(p_, s.size()) != s) return fail();
    p_ += s.size();
    return true;
  }
  Value value(int depth = 0) {
    if (depth > kMaxDepth) return fail(), Value();
    switch (byte()) {
      case static_cast<unsigned char>(Value::Kind::kNull):
        return Value();
      case static_cast<unsigned char>(Value::Kind::kBool): {
        unsigned char b = byte();
        if (b > 1) fail();
        return Value::Bool(b == 1);
      }
      case static_cast<unsigned char>(Value::Kind::kInt):
        return Value::Int(i64());
      case static_cast<unsigned char>(Value::Kind::kString):
        return Value::Str(str());
      case static_cast<unsigned char>(Value::Kind::kList): {
        size_t n = count();
        std::vector<Value> l;
        l.reserve(ok_ ? n : 0);
        for (size_t i = 0; i < n && ok_; ++i) l.push_back(value(depth + 1));
        return Value::List(std::move(l));
      }
      default:
        fail();
        return Value();
    }
  }
  AttrMap attrs() {
    AttrMap m;
    size_t n = count();
    for (size_t i = 0; i < n && ok_; ++i) {
      std::string k = str();
      Value v = value();
      if (!m.empty() && !(m.rbegin()->first < k)) fail();  // written sorted, without repeats
      m.emplace_hint(m.end(), std::move(k), std::move(v));
    }
    return m;
  }
  Loc loc(const std::string& self) {
    Loc l;
    uint64_t own = u64();
    if (own > 1) fail();
    l.file = own ? str() : self;
    l.line = int32();
    l.column = int32();
    return l;
  }

 private:
  uint64_t fail() {
    ok_ = false;
    p_ = b_.size();
    return 0;
  }
  std::string_view b_;
  size_t p_ = 0;
  bool ok_ = true;
};

}  // namespace

namespace {

void encode_resources(Out& o, const Manifest& m, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    const Resource& r = m.resources[i];
    o.str(r.id);
    o.str(r.type->name);
    o.str(r.name);
    o.str(r.key);
    o.attrs(r.attrs);
    o.u64(r.attr_locs.size());
    for (const auto& a : r.attr_locs) {
      o.str(a.attr);
      o.i64(a.line);
      o.i64(a.column);
    }
    o.loc(r.loc, m.path);
    o.u64(r.absent ? 1 : 0);
    o.str(r.provider);
    o.u64(static_cast<uint64_t>(r.drift));
    o.u64(r.deps.size());
    for (const auto& d : r.deps) {
      o.str(d.target);
      o.loc(d.loc, m.path);
      o.str(d.kind);
    }
    o.str(r.identity);
  }
}

// `count` resources from `bytes`, all of it.
// With `used`, what follows the resources may be anything: *used says how much they took.
std::optional<std::vector<Resource>> decode_resources(std::string_view bytes, size_t count,
                                                      std::string path, size_t* used = nullptr) {
  In in(bytes);
  if (count > bytes.size()) return std::nullopt;
  std::vector<Resource> out;
  out.reserve(count);
  for (size_t i = 0; i < count && in.ok(); ++i) {
    Resource r;
    r.id = in.str();
    r.type = find_type(std::string(in.view()));
    if (!r.type) return std::nullopt;
    r.name = in.str();
    r.key = in.str();
    r.attrs = in.attrs();
    size_t na = in.count();
    r.attr_locs.reserve(in.ok() ? na : 0);
    for (size_t k = 0; k < na && in.ok(); ++k) {
      std::string attr = in.str();
      int line = in.int32();
      int column = in.int32();
      r.attr_locs.push_back({std::move(attr), line, column});
    }
    r.loc = in.loc(path);
    uint64_t absent = in.u64();
    uint64_t drift = 0;
    r.provider = in.str();
    drift = in.u64();
    if (absent > 1 || drift > static_cast<uint64_t>(DriftMode::kCorrect)) return std::nullopt;
    r.absent = absent == 1;
    r.drift = static_cast<DriftMode>(drift);
    size_t nd = in.count();
    for (size_t k = 0; k < nd && in.ok(); ++k) {
      DependencyDecl d;
      d.target = in.str();
      d.loc = in.loc(path);
      d.kind = in.str();
      r.deps.push_back(std::move(d));
    }
    r.identity = in.str();
    if (!in.ok()) return std::nullopt;
    out.push_back(std::move(r));
  }
  if (used) {
    if (!in.ok()) return std::nullopt;
    *used = in.pos();
    return out;
  }
  if (!in.done()) return std::nullopt;
  return out;
}

}  // namespace

std::string encode_manifest(const Manifest& m, std::string_view text, std::string_view build) {
  Out o;
  o.raw(kMagic);
  o.str(build);
  o.str(m.path);
  o.str(text);
  o.str(m.dir);
  o.str(m.hash);
  o.attrs(m.vars);
  o.u64(m.providers.size());
  for (const auto& p : m.providers) {
    o.str(p.name);
    o.str(p.type);
    o.attrs(p.settings);
    o.loc(p.loc, m.path);
  }
  // The first resource of each (provider, type), again, for EarlyHint.
  std::vector<size_t> firsts;
  {
    std::set<std::pair<std::string_view, std::string_view>> seen;
    for (size_t i = 0; i < m.resources.size(); ++i)
      if (seen.emplace(m.resources[i].provider, m.resources[i].type->name).second)
        firsts.push_back(i);
  }
  o.u64(firsts.size());
  for (size_t i : firsts) encode_resources(o, m, i, i + 1);
  // Resources in chunks of known byte length, so that a large manifest decodes on two cores.
  size_t chunks = m.resources.size() >= kParallelFrom ? 2 : 1;
  o.u64(chunks);
  for (size_t c = 0; c < chunks; ++c) {
    size_t from = m.resources.size() * c / chunks, to = m.resources.size() * (c + 1) / chunks;
    Out chunk;
    encode_resources(chunk, m, from, to);
    std::string bytes = chunk.take();
    o.u64(to - from);
    o.str(bytes);
  }
  std::map<std::string_view, const std::vector<size_t>*> groups;  // in a stable order
  for (const auto& [g, members] : m.groups) groups.emplace(g, &members);
  o.u64(groups.size());
  for (const auto& [g, members] : groups) {
    o.str(g);
    o.u64(members->size());
    for (size_t i : *members) o.u64(i);
  }
  return o.take();
}

std::optional<Manifest> decode_manifest(std::string_view bytes, std::string_view text,
                                        std::string_view build, const EarlyHint& early) {
  In in(bytes);
  if (!in.literal(kMagic) || in.view() != build) return std::nullopt;
  Manifest m;
  m.path = in.str();
  if (!in.ok() || in.view() != text || !in.ok()) return std::nullopt;
  m.dir = in.str();
  m.hash = in.str();
  m.vars = in.attrs();
  size_t np = in.count();
  for (size_t i = 0; i < np && in.ok(); ++i) {
    ProviderDecl p;
    p.name = in.str();
    p.type = in.str();
    p.settings = in.attrs();
    p.loc = in.loc(m.path);
    m.providers.push_back(std::move(p));
  }
  size_t nfirst = in.count();
  std::vector<Resource> firsts;
  for (size_t i = 0; i < nfirst && in.ok(); ++i) {
    std::string_view rest = in.rest();
    size_t used = 0;
    auto one = decode_resources(rest, 1, m.path, &used);
    if (!one) return std::nullopt;
    in.skip(used);
    firsts.push_back(std::move(one->front()));
  }
  if (!in.ok()) return std::nullopt;
  if (early && early(m, firsts)) return m;
  size_t nchunks = in.count();
  if (nchunks == 0 || nchunks > 2) return std::nullopt;
  std::vector<std::pair<size_t, std::string_view>> chunks;
  size_t nr = 0;
  for (size_t c = 0; c < nchunks && in.ok(); ++c) {
    size_t count = in.count();  // at least one byte per resource
    chunks.emplace_back(count, in.view());
    nr += count;
  }
  if (!in.ok()) return std::nullopt;
  std::vector<std::future<std::optional<std::vector<Resource>>>> later;
  for (size_t c = 1; c < chunks.size(); ++c)
    later.push_back(std::async(std::launch::async, [&chunks, c, path = m.path] {
      return decode_resources(chunks[c].second, chunks[c].first, path);
    }));
  auto first = decode_resources(chunks[0].second, chunks[0].first, m.path);
  m.resources.reserve(nr);
  m.index.reserve(nr);
  bool ok = first.has_value();
  if (first) m.resources = std::move(*first);
  for (auto& f : later) {
    auto more = f.get();
    ok = ok && more.has_value();
    if (more) std::move(more->begin(), more->end(), std::back_inserter(m.resources));
  }
  if (!ok) return std::nullopt;
  for (size_t i = 0; i < m.resources.size(); ++i)
    if (!m.index.emplace(m.resources[i].id, i).second) return std::nullopt;
  size_t ng = in.count();
  for (size_t i = 0; i < ng && in.ok(); ++i) {
    std::string g = in.str();
    size_t n = in.count();
    std::vector<size_t> members;
    for (size_t k = 0; k < n && in.ok(); ++k) {
      uint64_t at = in.u64();
      if (at >= m.resources.size()) return std::nullopt;
      members.push_back(static_cast<size_t>(at));
    }
    m.groups.emplace(std::move(g), std::move(members));
  }
  if (!in.done()) return std::nullopt;
  return m;
}

const std::string& build_identity() {
  static const std::string id = [] {
    struct stat st {};
    if (::stat("/proc/self/exe", &st) != 0) return std::string();  // never matches: no cache
    return "1|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
  }();
  return id;
}

std::string manifest_cache_file(const std::string& dir, const std::string& path) {
  return (std::filesystem::path(dir) / "manifest-cache" /
          (content_hash(canonical_manifest(path)) + ".bin"))
      .string();
}

namespace {

// The whole file in one read (a stream copy through a stringstream costs as much again).
std::optional<std::string> read_all(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::nullopt;
  std::string out;
  struct stat st {};
  if (::fstat(::fileno(f), &st) == 0 && st.st_size > 0) out.resize(static_cast<size_t>(st.st_size));
  size_t got = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f);
  bool ok = got == out.size();
  // Whatever is beyond the size stat gave (a file growing meanwhile, or one stat cannot size).
  char buf[65536];
  for (size_t n; ok && (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ok = ok && !std::ferror(f);
  std::fclose(f);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace

void write_state_file(const std::string& file, const std::string& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  if (ec) return;
  std::string tmp = file + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

LoadResult load_manifest_cached(const std::string& path, const std::vector<ProviderKind>& kinds,
                                const std::string& dir, bool* hit, const EarlyHint& early,
                                std::function<void()>* store) {
  if (hit) *hit = false;
  if (store) *store = nullptr;
  auto text = read_all(path);
  if (!text) return load_manifest_file(path, kinds);  // its error names the problem
  std::string file;
  if (!dir.empty() && !build_identity().empty()) {
    file = manifest_cache_file(dir, path);
    if (auto bytes = read_all(file)) {
      // The entry must name this very path before anything hears of it.
      EarlyHint checked;
      if (early)
        checked = [&](const Manifest& h, const std::vector<Resource>& f) {
          return h.path == path && early(h, f);
        };
      if (auto m = decode_manifest(*bytes, *text, build_identity(), checked);
          m && m->path == path) {
        if (hit) *hit = true;
        LoadResult lr;
        lr.manifest = std::move(*m);
        return lr;
      }
    }
  }
  LoadResult lr = load_manifest_string(*text, path, kinds);
  if (lr.ok() && !file.empty()) {
    std::string bytes = encode_manifest(lr.manifest, *text, build_identity());
    if (store)
      *store = [file, bytes = std::move(bytes)] { write_state_file(file, bytes); };
    else
      write_state_file(file, bytes);
  }
  return lr;
}

}  // namespace converge
