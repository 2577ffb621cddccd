namespace Substrate.Server.Wire;

// OpenAI's Files and Vector Stores objects, as the API writes them.

public sealed record WireFile(string Id, long Bytes, long CreatedAt, string Filename, string Purpose)
{
    public string Object => "file";
    public string Status => "processed";
}

/// <summary>A list page as <see cref="ListQuery"/> cut it: first_id and last_id are the cursors for the pages either side.</summary>
public sealed record WirePage<T>(IReadOnlyList<T> Data, bool HasMore)
{
    public string Object => "list";
    public string? FirstId => Data.Count > 0 ? Id(Data[0]) : null;
    public string? LastId => Data.Count > 0 ? Id(Data[^1]) : null;

    private static string? Id(T item) => item switch { WireFile f => f.Id, WireVectorStore s => s.Id, WireVectorStoreFile f => f.Id, _ => null };
}

public sealed record WireDeleted(string Id, string Object)
{
    public bool Deleted => true;
}

public sealed record WireFileCounts(int InProgress, int Completed, int Failed, int Cancelled, int Total);

public sealed record WireVectorStore(string Id, long CreatedAt, string? Name, long UsageBytes, WireFileCounts FileCounts)
{
    public string Object => "vector_store";
    public string Status => "completed";
    public long LastActiveAt => CreatedAt;
    public IReadOnlyDictionary<string, string> Metadata => new Dictionary<string, string>();
}

public sealed record WireVectorStoreFile(string Id, long CreatedAt, string VectorStoreId, long UsageBytes)
{
    public string Object => "vector_store.file";
    public string Status => "completed";
    public IReadOnlyDictionary<string, string> Attributes => new Dictionary<string, string>();
}

public sealed record WireSearchContent(string Text)
{
    public string Type => "text";
}

public sealed record WireSearchResult(string FileId, string Filename, double Score, IReadOnlyList<WireSearchContent> Content)
{
    public IReadOnlyDictionary<string, string> Attributes => new Dictionary<string, string>();
}

public sealed record WireSearchPage(IReadOnlyList<string> SearchQuery, IReadOnlyList<WireSearchResult> Data)
{
    public string Object => "vector_store.search_results.page";
    public bool HasMore => false;
}
