using System.Runtime.InteropServices;

namespace Substrate.Training.Distributed;

/// <summary>
/// The few MPI calls data-parallel training needs, bound straight to Open MPI's <c>libmpi.so.40</c>. MPI.NET 1.4.0 binds
/// <c>msmpi.dll</c> and MS-MPI's integer handles, so it cannot talk to Open MPI on Linux; Open MPI's handles are pointers to
/// exported objects (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>), read here with <see cref="NativeLibrary.GetExport"/>.
/// Nothing here is touched unless the process runs under <c>mpirun</c> (<see cref="World"/>).
/// </summary>
static unsafe partial class MpiNative
{
    const string Library = "libmpi.so.40";
    public const int ThreadSerialized = 2, ThreadMultiple = 3; // Open MPI's MPI_THREAD_* values
    public static readonly nint InPlace = 1; // MPI_IN_PLACE in Open MPI's mpi.h: (void *) 1

    public static nint CommWorld, FloatType, DoubleType, LongType, ByteType, OpSum, OpMax, OpMin;

    /// <summary>Loads libmpi with RTLD_GLOBAL (its plugins, opened later by Open MPI, resolve their symbols against it) and reads the
    /// handles. Throws <see cref="NotSupportedException"/> (a user error: the CLI prints one <c>error:</c> line) naming the launcher's
    /// variables and the packages when Open MPI is not installed.</summary>
    public static void Load()
    {
        Open(Library);
        var lib = NativeLibrary.Load(Library);
        nint Export(string name) => NativeLibrary.GetExport(lib, name);
        CommWorld = Export("ompi_mpi_comm_world");
        (FloatType, DoubleType, LongType, ByteType) = (Export("ompi_mpi_float"), Export("ompi_mpi_double"), Export("ompi_mpi_long"), Export("ompi_mpi_byte"));
        (OpSum, OpMax, OpMin) = (Export("ompi_mpi_op_sum"), Export("ompi_mpi_op_max"), Export("ompi_mpi_op_min"));
    }

    /// <summary>dlopen(<paramref name="library"/>, RTLD_NOW | RTLD_GLOBAL), or the one clear error when it is absent.</summary>
    internal static void Open(string library)
    {
        const int RtldNow = 2, RtldGlobal = 0x100;
        if (dlopen(library, RtldNow | RtldGlobal) == 0)
            throw new NotSupportedException($"MPI: OMPI_COMM_WORLD_SIZE or PMIX_RANK is set (launched by mpirun) but {library} could not be "
                + $"loaded ({Marshal.PtrToStringUTF8(dlerror())}); install Open MPI (Debian: openmpi-bin libopenmpi-dev) or unset them");
    }

    /// <summary>Throws when an MPI call did not return MPI_SUCCESS (only reached where the error handler is not fatal).</summary>
    public static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"MPI: {call} failed with error code {code}");
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)] private static partial nint dlopen(string file, int mode);
    [LibraryImport("libc")] private static partial nint dlerror();

    [LibraryImport(Library)] public static partial int MPI_Initialized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Finalized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Init_thread(nint argc, nint argv, int required, out int provided);
    [LibraryImport(Library)] public static partial int MPI_Finalize();
    [LibraryImport(Library)] public static partial int MPI_Abort(nint comm, int errorCode);
    [LibraryImport(Library)] public static partial int MPI_Comm_rank(nint comm, out int rank);
    [LibraryImport(Library)] public static partial int MPI_Comm_size(nint comm, out int size);
    [LibraryImport(Library)] public static partial int MPI_Barrier(nint comm);
    [LibraryImport(Library)] public static partial int MPI_Bcast(void* buffer, int count, nint type, int root, nint comm);
    [LibraryImport(Library)] public static partial int MPI_Allreduce(void* send, void* receive, int count, nint type, nint op, nint comm);
    [LibraryImport(Library)]
    public static partial int MPI_Reduce(void* send, void* receive, int count, nint type, nint op, int root, nint comm);
    [LibraryImport(Library)]
    public static partial int MPI_Gatherv(void* send, int sendCount, nint sendType, void* receive, int* receiveCounts, int* displacements,
        nint receiveType, int root, nint comm);
    [LibraryImport(Library)]
    public static partial int MPI_Allgather(void* send, int sendCount, nint sendType, void* receive, int receiveCount, nint receiveType, nint comm);
}
