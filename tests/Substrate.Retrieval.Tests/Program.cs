using Substrate.Retrieval.Tests.Indexing;

namespace Substrate.Retrieval.Tests;

/// <summary>The test runner never calls this; the crash test starts the test assembly as a child process that indexes
/// slowly until it is killed (<see cref="IndexCrashTests"/>).</summary>
public static class Program
{
    public static int Main(string[] args) => args is ["index-child", var store, var docs]
        ? IndexCrashTests.RunChild(store, docs)
        : 2;
}
