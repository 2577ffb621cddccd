namespace Substrate.Nn.Kernels;

/// <summary>Rows split into fixed chunks run across threads: which rows form a chunk never depends on the
/// thread count, so kernels that reduce per chunk (in chunk order) give the same bits on any machine.</summary>
public static class RowChunks
{
    public static int Count(long rows, int rowsPerChunk) => (int)((rows + rowsPerChunk - 1) / rowsPerChunk);

    /// <summary>Runs body(chunk, firstRow, endRow) for every chunk, on libtorch's OpenMP threads where it can
    /// (see <see cref="OpenMpTeam"/>), else on .NET's pool; one chunk runs inline.</summary>
    public static void For(long rows, int rowsPerChunk, Action<int, long, long> body)
    {
        int chunks = Count(rows, rowsPerChunk);
        void Chunk(int c) => body(c, (long)c * rowsPerChunk, Math.Min(rows, (long)(c + 1) * rowsPerChunk));
        if (chunks == 1) { Chunk(0); return; }
        if (OpenMpTeam.TryFor(chunks, TorchSharp.torch.get_num_threads(), Chunk)) return;
        Parallel.For(0, chunks, Chunk);
    }
}
