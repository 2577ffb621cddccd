namespace Substrate.Server.Wire;

public sealed record WireEmbedding(int Index, object Embedding)
{
    public string Object => "embedding";
}

public sealed record WireEmbeddingUsage(int PromptTokens, int TotalTokens);

public sealed record WireEmbeddingList(IReadOnlyList<WireEmbedding> Data, string Model, WireEmbeddingUsage Usage)
{
    public string Object => "list";
}

public sealed record WireModel(string Id, long Created, string OwnedBy)
{
    public string Object => "model";
}

public sealed record WireModelList(IReadOnlyList<WireModel> Data)
{
    public string Object => "list";
}
