// The CUDA emulation's runtime (see src/cuda_emulation.h): the fiber scheduler that runs a
// grid, the barrier, emulated device memory, and the checks that the instrumented kernel
// source calls before every load and store. Given code. This file is compiled without the
// instrumentation, so nothing here is checked (or slowed) by the checks themselves.
#define NEEDLE_CUDA_EMULATION 1
#include "cuda_emulation.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cxxabi.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

namespace needle {
namespace cuda_emulation {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kRedZone = 256;   // bytes watched on either side of every device buffer
constexpr size_t kWord = 4;        // the granule of the __shared__ memory checks, in bytes
constexpr uint32_t kNobody = UINT32_MAX;

enum class State { kRunning, kAtBarrier, kDone };

struct Buffer {  // a kernel argument's whole device buffer
  uintptr_t begin;
  size_t bytes;
  size_t argument;  // 1-based, as a reader counts the kernel's parameters
};

// What the checks know of one word of __shared__ memory: the block that last wrote it (to
// tell an uninitialised read), and who wrote and read it in which barrier interval.
struct Word {
  uint64_t block;
  uint64_t write_interval;
  uint64_t read_interval;
  uint32_t writer;
  uint32_t reader, other_reader;  // the first two distinct readers in read_interval
};

struct Launch {
  const std::function<void()>* body;
  std::vector<ucontext_t> fibers;
  std::vector<State> states;
  ucontext_t scheduler;
  uint32_t current = 0;
  std::exception_ptr error;  // what a kernel threw
  std::string report;        // what a check found
  std::vector<Buffer> buffers;
  dim3 block;                // blockDim
  uint64_t block_serial = 0, interval = 0;
};

Launch* running = nullptr;   // the launch whose fibers run now
Launch* checking = nullptr;  // the same while the checks are on
bool checks_enabled = [] {
  const char* setting = std::getenv("NEEDLE_EMULATION_CHECKS");
  return setting == nullptr || std::string(setting) != "0";
}();
uint64_t block_serial = 0, interval_serial = 0;  // never reset, so old shadow entries go stale

// A launch's error, kept until CheckLaunch raises it.
std::exception_ptr pending_error;
std::string pending_report;

// The fibers' stacks: one region, so that an access to a stack is told apart in one compare.
char* stacks = nullptr;
constexpr size_t kStacksBytes = size_t(kMaxThreadsPerBlock) * kStackBytes;

// __shared__ memory: the `static` arrays of the kernel source lie in this module's writable
// segment, with the coordinates (threadIdx, ...), which the checks leave alone.
uintptr_t shared_begin = 0;
size_t shared_bytes = 0;
std::vector<Word> shadow;

// Device buffers: user address -> size in bytes (the red zones lie around).
std::mutex heap_mutex;
std::map<uintptr_t, size_t>& heap() {
  static auto* buffers = new std::map<uintptr_t, size_t>;  // never destroyed: buffers outlive it
  return *buffers;
}

void FindSharedMemory() {
  if (shared_bytes != 0) return;
  struct Search {
    uintptr_t inside, begin = UINTPTR_MAX, end = 0;
  } search{reinterpret_cast<uintptr_t>(&threadIdx)};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto& s = *static_cast<Search*>(data);
        uintptr_t begin = UINTPTR_MAX, end = 0;
        bool ours = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& segment = info->dlpi_phdr[i];
          if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_W)) continue;
          const uintptr_t b = info->dlpi_addr + segment.p_vaddr, e = b + segment.p_memsz;
          begin = std::min(begin, b);
          end = std::max(end, e);
          ours = ours || (b <= s.inside && s.inside < e);
        }
        if (ours) {
          s.begin = begin;
          s.end = end;
        }
        return ours ? 1 : 0;
      },
      &search);
  if (search.end == 0) throw std::logic_error("the CUDA emulation cannot find its own module's data segment");
  shared_begin = search.begin;
  shared_bytes = search.end - search.begin;
  shadow.assign((shared_bytes + kWord - 1) / kWord, Word{0, 0, 0, kNobody, kNobody, kNobody});
}

std::string Coordinates(const dim3& block, uint32_t thread, const dim3& shape) {
  const uint32_t x = thread % shape.x, y = (thread / shape.x) % shape.y, z = thread / (shape.x * shape.y);
  return "blockIdx (" + std::to_string(block.x) + ", " + std::to_string(block.y) + ", " + std::to_string(block.z) +
         ") threadIdx (" + std::to_string(x) + ", " + std::to_string(y) + ", " + std::to_string(z) + ")";
}

// Stops the current thread for good and hands the launch back to the scheduler with `report`.
[[noreturn]] void Report(Launch& launch, const std::string& what) {
  checking = nullptr;  // nothing more to check in this launch
  launch.report = "thread " + Coordinates(blockIdx, launch.current, launch.block) + " " + what;
  launch.states[launch.current] = State::kDone;
  setcontext(&launch.scheduler);
  std::abort();  // setcontext returns only on failure
}

std::string Access(bool write, size_t n) {
  return std::string(write ? "writes " : "reads ") + std::to_string(n) + " byte" + (n == 1 ? "" : "s");
}

// Where a bad global access falls, as "element 6 (byte 24) of argument 3, a buffer of 24 bytes".
std::string Place(const Launch& launch, uintptr_t begin, size_t bytes, uintptr_t addr, size_t n) {
  std::string which = "a device buffer the kernel was not given";
  for (const Buffer& b : launch.buffers)
    if (b.begin == begin) which = "argument " + std::to_string(b.argument);
  const auto offset = static_cast<std::ptrdiff_t>(addr - begin);
  std::string place = "byte offset " + std::to_string(offset);
  if (offset % static_cast<std::ptrdiff_t>(n) == 0 && bytes % n == 0)
    place = "element " + std::to_string(offset / static_cast<std::ptrdiff_t>(n)) + " (" + place + ")";
  return place + " of " + which + ", a buffer of " + std::to_string(bytes) + " bytes" +
         (bytes % n == 0 ? " (" + std::to_string(bytes / n) + " elements)" : "");
}

// A global access outside the kernel's arguments: out of bounds if it falls in a device
// buffer's red zone or in a buffer the kernel was not given; anything else (the kernel's
// stack, the host's) is not device memory and is left alone.
__attribute__((noinline)) void CheckOther(Launch& launch, uintptr_t addr, size_t n, bool write) {
  const auto& buffers = heap();
  auto after = buffers.upper_bound(addr);
  const bool before_next = after != buffers.end() && addr + n > after->first - kRedZone;
  if (after != buffers.begin()) {
    const auto& [begin, bytes] = *std::prev(after);
    if (addr + n <= begin + bytes)
      Report(launch, Access(write, n) + " " + Place(launch, begin, bytes, addr, n) +
                         ": only the kernel's own arguments may be accessed");
    // In the red zone after this buffer, unless nearer the next one's start.
    if (addr < begin + bytes + kRedZone && !(before_next && after->first - addr < addr - (begin + bytes)))
      Report(launch, Access(write, n) + " out of bounds, at " + Place(launch, begin, bytes, addr, n));
  }
  if (before_next)
    Report(launch, Access(write, n) + " out of bounds, at " + Place(launch, after->first, after->second, addr, n));
}

// The __shared__ array at addr, from this module's symbol table (the arrays are local
// symbols, which dladdr does not see): "__shared__ a_tile, element 37 (byte offset 148)".
std::string SharedPlace(uintptr_t addr, size_t n) {
  std::string fallback = "__shared__ memory (" + std::to_string(addr - shared_begin) + " bytes into the module's data)";
  Dl_info module{};
  if (dladdr(reinterpret_cast<void*>(&threadIdx), &module) == 0 || module.dli_fname == nullptr) return fallback;
  std::ifstream file(module.dli_fname, std::ios::binary);
  const std::string image((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (image.size() < sizeof(ElfW(Ehdr))) return fallback;
  const auto* header = reinterpret_cast<const ElfW(Ehdr)*>(image.data());
  if (header->e_shoff == 0 || header->e_shoff + size_t(header->e_shnum) * sizeof(ElfW(Shdr)) > image.size())
    return fallback;
  const auto* sections = reinterpret_cast<const ElfW(Shdr)*>(image.data() + header->e_shoff);
  const uintptr_t at = addr - reinterpret_cast<uintptr_t>(module.dli_fbase);
  for (int i = 0; i < header->e_shnum; ++i) {
    const ElfW(Shdr)& table = sections[i];
    if (table.sh_type != SHT_SYMTAB || table.sh_link >= header->e_shnum) continue;
    const ElfW(Shdr)& names = sections[table.sh_link];
    if (table.sh_offset + table.sh_size > image.size() || names.sh_offset + names.sh_size > image.size()) continue;
    const auto* symbols = reinterpret_cast<const ElfW(Sym)*>(image.data() + table.sh_offset);
    for (size_t k = 0; k < table.sh_size / sizeof(ElfW(Sym)); ++k) {
      const ElfW(Sym)& symbol = symbols[k];
      if (ELF64_ST_TYPE(symbol.st_info) != STT_OBJECT || at < symbol.st_value ||
          at >= symbol.st_value + symbol.st_size || symbol.st_name >= names.sh_size)
        continue;
      const char* mangled = image.data() + names.sh_offset + symbol.st_name;
      int status = 0;
      char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
      std::string name = status == 0 && demangled != nullptr ? demangled : mangled;
      std::free(demangled);
      // "needle::cuda::MatmulKernel<float>(float const*, ...)::a_tile" -> "a_tile of MatmulKernel<float>"
      const size_t close = name.rfind(")::"), open = name.find('(');
      if (close != std::string::npos && open != std::string::npos && open < close) {
        std::string kernel = name.substr(0, open);
        if (const size_t colons = kernel.rfind("::", kernel.find('<')); colons != std::string::npos)
          kernel = kernel.substr(colons + 2);
        name = name.substr(close + 3) + " of " + kernel;
      }
      const size_t offset = at - symbol.st_value;
      std::string place = "byte offset " + std::to_string(offset);
      if (offset % n == 0) place = "element " + std::to_string(offset / n) + " (" + place + ", counting row-major)";
      return "__shared__ " + name + ", " + place;
    }
  }
  return fallback;
}

enum class Hazard { kUninitialised, kReadAfterWrite, kWriteAfterRead, kWriteAfterWrite };

// The report of a bad __shared__ access; out of line, so that the checks stay small.
[[noreturn]] __attribute__((noinline, cold)) void ReportShared(Launch& launch, uintptr_t addr, size_t n, bool write,
                                                                Hazard hazard, uint32_t other) {
  const std::string access = Access(write, n) + (write ? " to " : " of ") + SharedPlace(addr, n);
  if (hazard == Hazard::kUninitialised)
    Report(launch, access + ", which no thread of this block has written: uninitialised __shared__ memory");
  const char* kind = hazard == Hazard::kWriteAfterRead ? "read" : "wrote";
  const char* race = hazard == Hazard::kReadAfterWrite   ? "read-after-write"
                     : hazard == Hazard::kWriteAfterRead ? "write-after-read"
                                                         : "write-after-write";
  Report(launch, access + ", which thread " + Coordinates(blockIdx, other, launch.block) + " " + kind +
                     " with no __syncthreads() between: a " + race + " race");
}

// Uninitialised reads and races on __shared__ memory, one kWord word at a time.
inline void CheckShared(Launch& launch, uintptr_t addr, size_t n, bool write) {
  for (const dim3* coordinate : {&threadIdx, &blockIdx, &blockDim, &gridDim})
    if (addr - reinterpret_cast<uintptr_t>(coordinate) < sizeof(dim3)) return;
  const uint32_t me = launch.current;
  const size_t first = (addr - shared_begin) / kWord, last = std::min((addr + n - 1 - shared_begin) / kWord, shadow.size() - 1);
  for (size_t w = first; w <= last; ++w) {
    Word& word = shadow[w];
    const bool written_now = word.write_interval == launch.interval && word.writer != me;
    if (write) {
      if (written_now) ReportShared(launch, addr, n, write, Hazard::kWriteAfterWrite, word.writer);
      if (word.read_interval == launch.interval && (word.reader != me || word.other_reader != kNobody))
        ReportShared(launch, addr, n, write, Hazard::kWriteAfterRead,
                     word.reader != me ? word.reader : word.other_reader);
      word.block = launch.block_serial;
      word.write_interval = launch.interval;
      word.writer = me;
    } else {
      if (word.block != launch.block_serial) ReportShared(launch, addr, n, write, Hazard::kUninitialised, kNobody);
      if (written_now) ReportShared(launch, addr, n, write, Hazard::kReadAfterWrite, word.writer);
      if (word.read_interval != launch.interval) {
        word.read_interval = launch.interval;
        word.reader = me;
        word.other_reader = kNobody;
      } else if (word.reader != me && word.other_reader == kNobody) {
        word.other_reader = me;
      }
    }
  }
}

// Every instrumented load and store comes here first.
inline void Check(uintptr_t addr, size_t n, bool write) {
  Launch* launch = checking;
  if (launch == nullptr) return;
  for (const Buffer& b : launch->buffers)
    if (addr - b.begin < b.bytes && n <= b.bytes - (addr - b.begin)) return;
  if (addr - reinterpret_cast<uintptr_t>(stacks) < kStacksBytes) return;
  if (addr - shared_begin < shared_bytes) return CheckShared(*launch, addr, n, write);
  CheckOther(*launch, addr, n, write);
}

void FiberEntry() {
  Launch& launch = *running;
  try {
    (*launch.body)();
  } catch (...) {
    launch.error = std::current_exception();
  }
  launch.states[launch.current] = State::kDone;
  // Returning resumes uc_link: the scheduler.
}

}  // namespace

void SyncThreads() {
  Launch* launch = running;
  if (launch == nullptr) throw std::logic_error("__syncthreads() called outside a kernel launch");
  launch->states[launch->current] = State::kAtBarrier;
  swapcontext(&launch->fibers[launch->current], &launch->scheduler);
}

void* Malloc(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  if (bytes > SIZE_MAX - 2 * kRedZone) throw std::bad_alloc();
  char* base = static_cast<char*>(std::malloc(bytes + 2 * kRedZone));
  if (base == nullptr) throw std::bad_alloc();
  const std::lock_guard<std::mutex> lock(heap_mutex);
  heap()[reinterpret_cast<uintptr_t>(base + kRedZone)] = bytes;
  return base + kRedZone;
}

void Free(void* ptr) {
  if (ptr == nullptr) return;
  {
    const std::lock_guard<std::mutex> lock(heap_mutex);
    heap().erase(reinterpret_cast<uintptr_t>(ptr));
  }
  std::free(static_cast<char*>(ptr) - kRedZone);
}

bool ChecksBuilt() {
#ifdef NEEDLE_EMULATION_CHECKS
  return true;
#else
  return false;
#endif
}

bool ChecksEnabled() { return ChecksBuilt() && checks_enabled; }

bool SetChecks(bool enabled) {
  if (enabled && !ChecksBuilt())
    throw std::logic_error("this build of the CUDA emulation has no access checks: its compiler lacks "
                           "-fsanitize=kernel-address (GCC 8+ or Clang 12+ have it)");
  const bool previous = ChecksEnabled();
  checks_enabled = enabled;
  return previous;
}

void RunGrid(dim3 grid, dim3 block, const std::function<void()>& body, std::vector<const void*> pointers) {
  const size_t threads = size_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreadsPerBlock)
    throw std::invalid_argument("kernel launch: " + std::to_string(threads) +
                                " threads per block; expected 1 to 1024");
  if (running != nullptr) throw std::logic_error("kernel launch from inside a kernel");
  if (pending_error || !pending_report.empty())
    throw std::logic_error("a kernel launch's error was never raised: call CheckLaunch after every launch");
  if (stacks == nullptr) {  // address space for every stack; pages are committed as used
    void* region = mmap(nullptr, kStacksBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) throw std::bad_alloc();
    stacks = static_cast<char*>(region);
  }
  Launch launch;
  launch.body = &body;
  launch.fibers.resize(threads);
  launch.states.resize(threads);
  launch.block = block;
  Launch* const checked = ChecksEnabled() ? &launch : nullptr;  // (for the whole launch)
  if (checked) {
    FindSharedMemory();
    const std::lock_guard<std::mutex> lock(heap_mutex);
    const auto& buffers = heap();
    for (size_t i = 0; i < pointers.size(); ++i) {
      const auto p = reinterpret_cast<uintptr_t>(pointers[i]);
      auto after = buffers.upper_bound(p);
      if (p == 0 || after == buffers.begin()) continue;
      const auto& [begin, bytes] = *std::prev(after);
      if (p < begin + bytes) launch.buffers.push_back({begin, bytes, i + 1});
    }
  }
  running = &launch;
  gridDim = grid;
  blockDim = block;
  auto stopped = [&launch]() { return launch.error || !launch.report.empty(); };
  for (unsigned int bz = 0; bz < grid.z && !stopped(); ++bz)
    for (unsigned int by = 0; by < grid.y && !stopped(); ++by)
      for (unsigned int bx = 0; bx < grid.x && !stopped(); ++bx) {
        blockIdx = dim3(bx, by, bz);
        launch.block_serial = ++block_serial;
        for (size_t t = 0; t < threads; ++t) {
          ucontext_t& fiber = launch.fibers[t];
          getcontext(&fiber);
          fiber.uc_stack.ss_sp = stacks + t * kStackBytes;
          fiber.uc_stack.ss_size = kStackBytes;
          fiber.uc_link = &launch.scheduler;
          makecontext(&fiber, FiberEntry, 0);
          launch.states[t] = State::kRunning;
        }
        // Rounds: each live thread runs to its next barrier or its end. A round is one
        // barrier interval, the span the race check compares threads within.
        for (bool live = true; live && !stopped();) {
          live = false;
          launch.interval = ++interval_serial;
          for (uint32_t t = 0; t < threads && !stopped(); ++t) {
            if (launch.states[t] == State::kDone) continue;
            launch.current = t;
            launch.states[t] = State::kRunning;
            threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
            checking = checked;
            swapcontext(&launch.scheduler, &launch.fibers[t]);
            checking = nullptr;
            live = live || launch.states[t] != State::kDone;
          }
        }
      }
  running = nullptr;
  pending_error = launch.error;
  pending_report = launch.report;
}

void CheckLaunch(const char* kernel) {
  if (pending_error) {
    std::exception_ptr error = pending_error;
    pending_error = nullptr;
    pending_report.clear();
    std::rethrow_exception(error);
  }
  if (!pending_report.empty()) {
    std::string report = "kernel " + std::string(kernel) + ": " + pending_report;
    pending_report.clear();
    throw std::runtime_error(report);
  }
}

}  // namespace cuda_emulation
}  // namespace needle

// The instrumentation's entry points (GCC's and Clang's names for -fsanitize=kernel-address
// with every check outlined), seen only inside this module.
#define NEEDLE_CHECK_ACCESS(kind, n, write)                                                  \
  extern "C" __attribute__((visibility("hidden"))) void __asan_##kind##n##_noabort(uintptr_t addr) { \
    needle::cuda_emulation::Check(addr, n, write);                                           \
  }
NEEDLE_CHECK_ACCESS(load, 1, false)
NEEDLE_CHECK_ACCESS(load, 2, false)
NEEDLE_CHECK_ACCESS(load, 4, false)
NEEDLE_CHECK_ACCESS(load, 8, false)
NEEDLE_CHECK_ACCESS(load, 16, false)
NEEDLE_CHECK_ACCESS(store, 1, true)
NEEDLE_CHECK_ACCESS(store, 2, true)
NEEDLE_CHECK_ACCESS(store, 4, true)
NEEDLE_CHECK_ACCESS(store, 8, true)
NEEDLE_CHECK_ACCESS(store, 16, true)
extern "C" __attribute__((visibility("hidden"))) void __asan_loadN_noabort(uintptr_t addr, size_t n) {
  needle::cuda_emulation::Check(addr, n, false);
}
extern "C" __attribute__((visibility("hidden"))) void __asan_storeN_noabort(uintptr_t addr, size_t n) {
  needle::cuda_emulation::Check(addr, n, true);
}
extern "C" __attribute__((visibility("hidden"))) void __asan_handle_no_return() {}
