namespace Sdtt.Distributed;

/// <summary>Chooses the communicator of this process from its environment.</summary>
public static class Communicator
{
    /// <summary>The world size announced by the launcher (Open MPI's <c>OMPI_COMM_WORLD_SIZE</c>), or null when the process was
    /// not started by <c>mpirun</c>. A PMIx launch without Open MPI's variables (<c>PMIX_RANK</c> only) reads as 0: size unknown.</summary>
    public static int? LaunchedWorldSize()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int n)) return n;
        if (Environment.GetEnvironmentVariable("PMIX_RANK") is not null) return 0;
        return null;
    }

    /// <summary>An <see cref="MpiCommunicator"/> when <c>mpirun</c> started this process with more than one rank, otherwise
    /// <see cref="SingleProcessCommunicator.Instance"/> (no MPI library is loaded: a plain run, or <c>mpirun -np 1</c>).
    /// Throws <see cref="SdttException"/> with one line when mpirun asked for several ranks but libmpi cannot be loaded.</summary>
    public static ICommunicator FromEnvironment() =>
        LaunchedWorldSize() is { } n && n != 1 ? MpiCommunicator.Initialize() : SingleProcessCommunicator.Instance;
}
