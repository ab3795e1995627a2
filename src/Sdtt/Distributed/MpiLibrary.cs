using System.Runtime.InteropServices;

namespace Sdtt.Distributed;

/// <summary>The few entry points of Open MPI's C library (<c>libmpi.so.40</c>, Open MPI 4.x and 5.x), resolved at run time so
/// that nothing needs MPI unless <c>mpirun</c> started the process. The library is opened with <c>dlopen(RTLD_NOW |
/// RTLD_GLOBAL)</c>: Open MPI loads its components (transports, PMIx) as plugins that resolve their symbols against
/// libmpi's, which fails when libmpi was opened RTLD_LOCAL (what <see cref="NativeLibrary.Load(string)"/> does).
/// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the addresses of exported globals such as
/// <c>ompi_mpi_comm_world</c>; MPI_IN_PLACE is <c>(void*)1</c>. Other MPI implementations (MPICH: integer handles) are
/// not supported.</summary>
internal static unsafe class MpiLibrary
{
    /// <summary>Environment variable naming the library file to load instead of <see cref="DefaultName"/>.</summary>
    public const string PathVariable = "SDTT_MPI_LIBRARY";
    /// <summary>The soname of Open MPI 4.x / 5.x's C library.</summary>
    public const string DefaultName = "libmpi.so.40";

    public const int Success = 0;
    public const int ThreadFunneled = 1;
    public static readonly nint InPlace = 1;

    public static nint CommWorld, Float, Double, Byte, OpSum;
    public static delegate* unmanaged<int*, nint*, int, int*, int> InitThread;
    public static delegate* unmanaged<int*, int> Initialized;
    public static delegate* unmanaged<int*, int> Finalized;
    public static delegate* unmanaged<int> Finalize;
    public static delegate* unmanaged<nint, int*, int> CommRank;
    public static delegate* unmanaged<nint, int*, int> CommSize;
    public static delegate* unmanaged<nint, nint, int, nint, nint, nint, int> Allreduce;
    public static delegate* unmanaged<nint, int, nint, int, nint, int> Bcast;
    public static delegate* unmanaged<nint, int> Barrier;
    public static delegate* unmanaged<nint, int, int> Abort;
    public static delegate* unmanaged<int, byte*, int*, int> ErrorString;

    private static readonly object Gate = new();
    private static string? _loadedFrom;

    /// <summary>Loads the library and resolves the entry points (once); throws <see cref="SdttException"/> with a one-line
    /// reason when it is missing.</summary>
    public static string Load()
    {
        lock (Gate)
        {
            if (_loadedFrom is not null) return _loadedFrom;
            if (!OperatingSystem.IsLinux())
                throw new SdttException("data-parallel training needs Open MPI on Linux (this process was started by mpirun on another OS)");
            string name = Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } p ? p : DefaultName;
            nint h = DlOpen(name, out string? why);
            if (h == 0)
                throw new SdttException($"mpirun started this process, but the Open MPI library {name} could not be loaded ({why}); " +
                    $"install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) or set {PathVariable} to libmpi's path");
            nint Sym(string s) => NativeLibrary.TryGetExport(h, s, out var a) ? a
                : throw new SdttException($"{name} has no symbol {s}: it is not Open MPI 4.x/5.x (set {PathVariable} to Open MPI's libmpi.so.40)");
            CommWorld = Sym("ompi_mpi_comm_world");
            Float = Sym("ompi_mpi_float");
            Double = Sym("ompi_mpi_double");
            Byte = Sym("ompi_mpi_byte");
            OpSum = Sym("ompi_mpi_op_sum");
            InitThread = (delegate* unmanaged<int*, nint*, int, int*, int>)Sym("MPI_Init_thread");
            Initialized = (delegate* unmanaged<int*, int>)Sym("MPI_Initialized");
            Finalized = (delegate* unmanaged<int*, int>)Sym("MPI_Finalized");
            Finalize = (delegate* unmanaged<int>)Sym("MPI_Finalize");
            CommRank = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_rank");
            CommSize = (delegate* unmanaged<nint, int*, int>)Sym("MPI_Comm_size");
            Allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Sym("MPI_Allreduce");
            Bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Sym("MPI_Bcast");
            Barrier = (delegate* unmanaged<nint, int>)Sym("MPI_Barrier");
            Abort = (delegate* unmanaged<nint, int, int>)Sym("MPI_Abort");
            ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Sym("MPI_Error_string");
            return _loadedFrom = name;
        }
    }

    /// <summary>Throws <see cref="SdttException"/> naming the call when an MPI call did not return MPI_SUCCESS (Open MPI's
    /// default handler aborts the job before this, unless errors are set to return).</summary>
    public static void Check(int rc, string call)
    {
        if (rc == Success) return;
        var buf = stackalloc byte[512];
        int len = 0;
        string text = ErrorString != null && ErrorString(rc, buf, &len) == Success ? new string((sbyte*)buf, 0, len) : $"code {rc}";
        throw new SdttException($"{call} failed: {text}");
    }

    private const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc.so.6", EntryPoint = "dlopen")] private static extern nint DlOpenC(string file, int mode);
    [DllImport("libc.so.6", EntryPoint = "dlerror")] private static extern nint DlErrorC();
    [DllImport("libdl.so.2", EntryPoint = "dlopen")] private static extern nint DlOpenDl(string file, int mode);
    [DllImport("libdl.so.2", EntryPoint = "dlerror")] private static extern nint DlErrorDl();

    private static nint DlOpen(string name, out string? error)
    {
        error = null;
        try
        {
            var h = DlOpenC(name, RtldNow | RtldGlobal);
            if (h == 0) error = Marshal.PtrToStringUTF8(DlErrorC());
            return h;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // glibc before 2.34 keeps dlopen in libdl.
            var h = DlOpenDl(name, RtldNow | RtldGlobal);
            if (h == 0) error = Marshal.PtrToStringUTF8(DlErrorDl());
            return h;
        }
    }
}
