using Substrate.Training.Distributed;

namespace Substrate.Training.Tests;

public class MpiNativeTests
{
    [Fact]
    public void An_mpirun_environment_without_libmpi_is_one_clear_user_error()
    {
        // NotSupportedException is a user error to the CLI: one "error:" line, not an "internal error" with exit 70.
        var error = Assert.Throws<NotSupportedException>(() => MpiNative.Open("libmpi-absent.so.40"));
        Assert.StartsWith("MPI: OMPI_COMM_WORLD_SIZE or PMIX_RANK is set (launched by mpirun) but libmpi-absent.so.40 could not be loaded (", error.Message);
        Assert.EndsWith("install Open MPI (Debian: openmpi-bin libopenmpi-dev) or unset them", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
