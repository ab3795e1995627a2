using System.Runtime.InteropServices;
using TorchSharp;

namespace Sdtt.Native;

/// <summary>Loads libtorch once and turns a load failure into one clear line (<see cref="SdttException"/>).</summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _ready;

    /// <summary>Initialises TorchSharp's native back end; if the GLIBCXX need of libLibTorchSharp.so blocks loading,
    /// marks it weak in the copy next to this assembly and retries.</summary>
    public static void EnsureLoaded()
    {
        if (_ready) return;
        lock (Gate)
        {
            if (_ready) return;
            TuneAllocator();
            // A packaged tool or a project built without this repository's build step ships the unpatched library.
            // Patch before the first load: TorchSharp's static initialiser cannot be retried within a process.
            foreach (var lib in CandidateLibraries())
            {
                try { ElfVersionPatch.Apply(lib); }
                catch { /* read-only install: the load below reports the problem */ }
            }
            try
            {
                TryInit();
            }
            catch (Exception first)
            {
                bool patched = false;
                foreach (var lib in CandidateLibraries())
                {
                    try { patched |= ElfVersionPatch.Apply(lib) == ElfVersionPatch.Outcome.Patched; }
                    catch { /* read-only install: fall through to the message */ }
                }
                if (!patched) throw Explain(first);
                try { TryInit(); }
                catch (Exception second) { throw Explain(second); }
            }
            _ready = true;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int param, int value);

    /// <summary>Whether <see cref="TuneAllocator"/> changed glibc's malloc settings in this process.</summary>
    public static bool AllocatorTuned { get; private set; }

    /// <summary>Keeps glibc from serving large tensors with fresh mmap regions. By default every allocation above
    /// 32 MB (a 50k-vocabulary logits block) is a new mapping, so each one pays a page fault per 4 KB on first touch and an
    /// munmap on free; on the VMs measured here that cost more than the matmuls (a 256×50258 fp32 zeros() took 265 ms, a
    /// tiny-model training step 8.1 s → 3.7 s with this change). Disabling mmap (M_MMAP_MAX = 0) and trimming
    /// (M_TRIM_THRESHOLD) lets freed blocks be reused from the heap. Linux/glibc only; set SDTT_MALLOC_TUNE=0 to keep the
    /// defaults.</summary>
    public static void TuneAllocator()
    {
        if (AllocatorTuned || !OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("SDTT_MALLOC_TUNE") == "0") return;
        try
        {
            const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_MAX = -4;
            AllocatorTuned = MallOpt(M_MMAP_MAX, 0) == 1;
            MallOpt(M_TRIM_THRESHOLD, int.MaxValue);
            MallOpt(M_TOP_PAD, 64 << 20);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // not glibc (musl, macOS): nothing to tune
        }
    }

    private static void TryInit()
    {
        using var t = torch.zeros(1);
    }

    private static IEnumerable<string> CandidateLibraries()
    {
        var dir = AppContext.BaseDirectory;
        foreach (var rel in new[] { "libLibTorchSharp.so", "cpu/libLibTorchSharp.so", "runtimes/linux-x64/native/libLibTorchSharp.so" })
        {
            var p = Path.Combine(dir, rel);
            if (File.Exists(p)) yield return p;
        }
    }

    private static SdttException Explain(Exception e)
    {
        var inner = e;
        while (inner.InnerException != null) inner = inner.InnerException;
        string msg = inner.Message.Split('\n')[0];
        string hint = msg.Contains("GLIBCXX") || msg.Contains("libstdc++")
            ? "the system libstdc++ is older than TorchSharp needs; rebuild with `dotnet build` (the build marks the need weak) or install a newer libstdc++6"
            : RuntimeInformation.IsOSPlatform(OSPlatform.Linux)
                ? "check that the TorchSharp-cpu native files are in the output folder (rebuild with `dotnet build -c Release`)"
                : "this build ships the linux-x64 libtorch; run it on Linux x64";
        return new SdttException($"libtorch could not be loaded ({msg}); {hint}", e);
    }

    /// <summary>Resolves "cpu", "cuda", "cuda:N" or "auto" into a device, with a clear error when CUDA is absent.</summary>
    public static torch.Device ResolveDevice(string? name)
    {
        EnsureLoaded();
        name = string.IsNullOrWhiteSpace(name) ? "cpu" : name.Trim().ToLowerInvariant();
        if (name == "auto") return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (name == "cpu") return torch.CPU;
        if (name.StartsWith("cuda"))
        {
            if (!torch.cuda.is_available())
                throw new SdttException($"device '{name}' requested but CUDA is not available in this build (TorchSharp-cpu); use --device cpu or install TorchSharp-cuda");
            return new torch.Device(name);
        }
        throw new SdttException($"unknown device '{name}'; use cpu, cuda, cuda:N or auto");
    }
}
