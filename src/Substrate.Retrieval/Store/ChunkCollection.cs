using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace Substrate.Retrieval.Store;

/// <summary>
/// The store as a Microsoft.Extensions.VectorData collection, so code written against <see cref="VectorStoreCollection{TKey,TRecord}"/>
/// can use it and another connector can replace it. Search is the store's exact cosine search; its input is a vector
/// (ReadOnlyMemory&lt;float&gt;, float[], Embedding&lt;float&gt;) or, with an embedding generator, a string. Search filters
/// take the form the store indexes: <c>r =&gt; r.Path.StartsWith("prefix")</c>; GetAsync filters may be any expression
/// over the record (evaluated in process over every chunk).
/// </summary>
public sealed class ChunkCollection(ChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? embedder = null)
    : VectorStoreCollection<long, ChunkRecord>
{
    public override string Name => Path.GetFileNameWithoutExtension(store.FilePath);

    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) => Task.FromResult(true);

    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public override Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        store.Clear();
        return Task.CompletedTask;
    }

    public override Task<ChunkRecord?> GetAsync(long key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default)
    {
        var chunk = store.GetChunks([key]).SingleOrDefault();
        return Task.FromResult(chunk is null ? null : ChunkRecord.From(chunk, options?.IncludeVectors == true ? store.GetVector(key) : null));
    }

    public override async IAsyncEnumerable<ChunkRecord> GetAsync(Expression<Func<ChunkRecord, bool>> filter, int top,
        FilteredRecordRetrievalOptions<ChunkRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var predicate = filter.Compile();
        bool vectors = options?.IncludeVectors == true;
        var matching = store.AllChunks().Select(c => ChunkRecord.From(c, null)).Where(predicate).Skip(options?.Skip ?? 0).Take(top).ToList();
        foreach (var record in matching)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (vectors) record.Vector = store.GetVector(record.Id);
            yield return record;
        }
        await Task.CompletedTask;
    }

    public override Task DeleteAsync(long key, CancellationToken cancellationToken = default)
    {
        store.DeleteChunk(key);
        return Task.CompletedTask;
    }

    public override Task UpsertAsync(ChunkRecord record, CancellationToken cancellationToken = default)
    {
        record.Id = store.UpsertChunk(record.ToStored(), record.Vector);
        return Task.CompletedTask;
    }

    public override async Task UpsertAsync(IEnumerable<ChunkRecord> records, CancellationToken cancellationToken = default)
    {
        foreach (var record in records) await UpsertAsync(record, cancellationToken);
    }

    public override async IAsyncEnumerable<VectorSearchResult<ChunkRecord>> SearchAsync<TInput>(TInput searchValue, int top,
        VectorSearchOptions<ChunkRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var vector = await ToVectorAsync(searchValue, cancellationToken);
        string? prefix = options?.Filter is { } filter ? PathPrefix(filter) : null;
        int skip = options?.Skip ?? 0;
        var hits = store.SearchVector(vector.Span, top + skip, prefix).Skip(skip);
        foreach (var hit in hits)
        {
            if (options?.ScoreThreshold is double threshold && hit.Score < threshold) yield break;
            var record = ChunkRecord.From(hit.Chunk, options?.IncludeVectors == true ? store.GetVector(hit.Chunk.Id) : null);
            yield return new VectorSearchResult<ChunkRecord>(record, hit.Score);
        }
    }

    async Task<ReadOnlyMemory<float>> ToVectorAsync<TInput>(TInput value, CancellationToken cancellationToken) => value switch
    {
        ReadOnlyMemory<float> memory => memory,
        float[] array => array,
        Embedding<float> embedding => embedding.Vector,
        string text when embedder is not null => (await embedder.GenerateAsync([text], cancellationToken: cancellationToken))[0].Vector,
        string => throw new NotSupportedException("searching by text needs an embedding generator (pass one to ChunkCollection)"),
        _ => throw new NotSupportedException($"cannot search by {typeof(TInput).Name}; use ReadOnlyMemory<float>, float[], Embedding<float> or string"),
    };

    /// <summary>The prefix of a filter <c>r =&gt; r.Path.StartsWith(prefix)</c> (a constant or a captured variable).</summary>
    static string PathPrefix(Expression<Func<ChunkRecord, bool>> filter)
    {
        if (filter.Body is MethodCallExpression { Method.Name: nameof(string.StartsWith), Object: MemberExpression { Member.Name: nameof(ChunkRecord.Path) } }
            call && call.Arguments.Count == 1 && Expression.Lambda<Func<string>>(call.Arguments[0]).Compile()() is { } prefix)
            return prefix;
        throw new NotSupportedException($"search filter {filter.Body} is not supported; use r => r.Path.StartsWith(\"prefix\")");
    }

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(VectorStoreCollectionMetadata) ? new VectorStoreCollectionMetadata { VectorStoreSystemName = "sqlite", CollectionName = Name }
        : serviceType.IsInstanceOfType(store) ? store
        : serviceType.IsInstanceOfType(this) ? this : null;
}
