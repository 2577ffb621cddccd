using Microsoft.AspNetCore.Http;

namespace Substrate.Server.Wire;

/// <summary>
/// OpenAI's cursor pagination of a list: <c>limit</c>, <c>order</c> (<c>asc</c>|<c>desc</c> by created_at, default
/// <c>desc</c>), <c>after</c> and <c>before</c> (ids of objects in the list). Objects created in the same second are
/// ordered by id, so every page boundary is stable. A bad value is a 400 naming the parameter.
/// </summary>
public sealed record ListQuery(int Limit, bool Descending, string? After, string? Before)
{
    /// <summary>How a list endpoint pages: its limit bounds and default, and whether it takes <c>before</c>.</summary>
    public sealed record Shape(int MaxLimit, int DefaultLimit, bool TakesBefore);

    /// <summary>Vector stores and a vector store's files: limit 1–100 (default 20), after and before.</summary>
    public static readonly Shape VectorStores = new(100, 20, TakesBefore: true);

    /// <summary>Files: limit 1–10,000 (default 10,000) and after only, as OpenAI's <c>GET /v1/files</c>.</summary>
    public static readonly Shape Files = new(10_000, 10_000, TakesBefore: false);

    public static ListQuery Read(IQueryCollection query, Shape shape)
    {
        var limit = One(query, "limit") is { } text
            ? int.TryParse(text, System.Globalization.NumberStyles.None, null, out var n) && n >= 1 && n <= shape.MaxLimit ? n
                : throw ApiException.Invalid($"'limit' must be an integer from 1 to {shape.MaxLimit} (got '{text}')", "limit", "invalid_value")
            : shape.DefaultLimit;
        var order = One(query, "order") ?? "desc";
        if (order is not ("asc" or "desc")) throw ApiException.Invalid($"'order' must be asc or desc (got '{order}')", "order", "invalid_value");
        var before = One(query, "before");
        if (before is not null && !shape.TakesBefore)
            throw ApiException.Invalid("'before' is not a parameter of this list (it pages forward with 'after')", "before", "unknown_parameter");
        return new ListQuery(limit, order == "desc", One(query, "after"), before);
    }

    /// <summary>
    /// The page of <paramref name="items"/> this query asks for, and whether more lie beyond it: past the page's end, or
    /// with <c>before</c> alone before its start (the previous page is the <c>limit</c> objects just before the cursor).
    /// </summary>
    public (List<T> Page, bool HasMore) Apply<T>(IEnumerable<T> items, Func<T, string> id, Func<T, long> createdAt)
    {
        var ordered = Descending
            ? items.OrderByDescending(createdAt).ThenByDescending(id, StringComparer.Ordinal).ToList()
            : items.OrderBy(createdAt).ThenBy(id, StringComparer.Ordinal).ToList();
        int start = After is null ? 0 : IndexOf(ordered, id, After, "after") + 1;
        int end = Before is null ? ordered.Count : IndexOf(ordered, id, Before, "before");
        var window = ordered[start..Math.Max(start, end)];
        if (window.Count <= Limit) return (window, false);
        return After is null && Before is not null ? (window[^Limit..], true) : (window[..Limit], true);
    }

    private static int IndexOf<T>(List<T> ordered, Func<T, string> id, string cursor, string param)
    {
        var index = ordered.FindIndex(item => id(item) == cursor);
        return index >= 0 ? index : throw ApiException.Invalid($"'{param}' must be the id of an object in this list (got '{cursor}')", param, "invalid_value");
    }

    /// <summary>A query parameter given at most once (absent: null); given twice it is ambiguous, so a 400.</summary>
    private static string? One(IQueryCollection query, string name) => query[name].Count switch
    {
        0 => null,
        1 => query[name][0],
        _ => throw ApiException.Invalid($"'{name}' is given more than once", name, "invalid_value"),
    };
}
