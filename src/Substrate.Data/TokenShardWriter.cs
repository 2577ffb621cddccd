using System.Buffers.Binary;

namespace Substrate.Data;

/// <summary>
/// Appends token ids to the raw shards of one split (<c>{split}-00000.bin</c>, …), starting a new
/// shard every <c>maxTokensPerShard</c> tokens. Shards are written as <c>*.bin.tmp</c> and renamed
/// when full, so memory holds one write buffer, never the split.
/// </summary>
public sealed class TokenShardWriter : IDisposable
{
    readonly string _directory, _split;
    readonly int _bytesPerToken;
    readonly long _maxTokensPerShard;
    readonly byte[] _buffer = new byte[1 << 16];
    readonly List<TokenShardEntry> _shards = new();
    FileStream? _stream;
    long _shardTokens;

    public long Tokens { get; private set; }
    public long Documents { get; private set; }

    public TokenShardWriter(string directory, string split, int bytesPerToken, long maxTokensPerShard)
    {
        if (maxTokensPerShard < 1) throw new ArgumentOutOfRangeException(nameof(maxTokensPerShard));
        (_directory, _split, _bytesPerToken, _maxTokensPerShard) = (directory, split, bytesPerToken, maxTokensPerShard);
    }

    /// <summary>Writes one document's ids followed by the separator id.</summary>
    public void AppendDocument(ReadOnlySpan<int> ids, int separator)
    {
        Append(ids);
        Append([separator]);
        Documents++;
    }

    void Append(ReadOnlySpan<int> ids)
    {
        while (!ids.IsEmpty)
        {
            if (_stream == null || _shardTokens == _maxTokensPerShard) StartShard();
            int perBuffer = _buffer.Length / _bytesPerToken;
            int n = (int)Math.Min(Math.Min(ids.Length, perBuffer), _maxTokensPerShard - _shardTokens);
            for (int i = 0; i < n; i++)
            {
                var id = ids[i];
                if (_bytesPerToken == 2)
                {
                    if ((uint)id > ushort.MaxValue) throw new InvalidDataException($"token id {id} does not fit uint16");
                    BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(2 * i), (ushort)id);
                }
                else
                {
                    if (id < 0) throw new InvalidDataException($"negative token id {id}");
                    BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(4 * i), (uint)id);
                }
            }
            _stream!.Write(_buffer, 0, n * _bytesPerToken);
            _shardTokens += n;
            Tokens += n;
            ids = ids[n..];
        }
    }

    void StartShard()
    {
        FinishShard();
        var name = $"{_split}-{_shards.Count:D5}.bin";
        _shards.Add(new TokenShardEntry { File = name, Tokens = 0 });
        _stream = new FileStream(Path.Combine(_directory, name + ".tmp"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        _shardTokens = 0;
    }

    void FinishShard()
    {
        if (_stream == null) return;
        _stream.Dispose();
        _stream = null;
        var entry = _shards[^1];
        _shards[^1] = entry with { Tokens = _shardTokens };
        var path = Path.Combine(_directory, entry.File);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Closes the last shard and describes the split for meta.json.</summary>
    public TokenSplitMeta Complete()
    {
        FinishShard();
        return new TokenSplitMeta { Documents = Documents, Tokens = Tokens, Shards = _shards.ToList() };
    }

    public void Dispose() => _stream?.Dispose();
}
