namespace Substrate.Retrieval.Documents;

/// <summary>A run of a document's text under one position: a page ("page 3"), a heading path ("Setup > Linux"),
/// a JSON line ("line 12"), or "" for a file that has none.</summary>
public sealed record DocumentSection(string Text, string Position);
