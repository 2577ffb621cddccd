using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Substrate.Repository.Tests;

/// <summary>
/// The shape the code keeps (STYLE.md: small files, methods a reader can hold in mind): no line in src/ over 160
/// characters, no method, constructor, accessor or local function body over 80 lines. Parsed with Roslyn, so the count is
/// of the body itself, not a guess from braces.
/// </summary>
public class CodeShapeTests
{
    private const int MaxLineLength = 160;
    private const int MaxMethodLines = 80;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Substrate.slnx"))) return dir.FullName;
        throw new InvalidOperationException("Substrate.slnx not found above the test's folder");
    }

    private static IEnumerable<string> SourceFiles()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        return Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Order(StringComparer.Ordinal);
    }

    private static string Name(string file) => Path.GetRelativePath(RepositoryRoot(), file);

    [Fact]
    public void No_line_is_longer_than_160_characters()
    {
        var long_ = SourceFiles().SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line.Length)))
            .Where(x => x.Length > MaxLineLength).Select(x => $"{Name(x.f)}:{x.i + 1} ({x.Length})").ToList();
        Assert.True(long_.Count == 0, $"{long_.Count} lines over {MaxLineLength} characters:\n{string.Join("\n", long_)}");
    }

    [Fact]
    public void No_method_is_longer_than_80_lines()
    {
        var long_ = new List<string>();
        foreach (var file in SourceFiles())
        {
            var tree = CSharpSyntaxTree.ParseText(File.ReadAllText(file), path: file);
            foreach (var node in tree.GetRoot().DescendantNodes())
            {
                SyntaxNode? body = node switch
                {
                    BaseMethodDeclarationSyntax m => (SyntaxNode?)m.Body ?? m.ExpressionBody,
                    AccessorDeclarationSyntax a => (SyntaxNode?)a.Body ?? a.ExpressionBody,
                    LocalFunctionStatementSyntax l => (SyntaxNode?)l.Body ?? l.ExpressionBody,
                    _ => null,
                };
                if (body is null) continue;
                var span = body.GetLocation().GetLineSpan();
                var lines = span.EndLinePosition.Line - span.StartLinePosition.Line + 1;
                if (lines > MaxMethodLines) long_.Add($"{Name(file)}:{span.StartLinePosition.Line + 1} {Describe(node)} ({lines} lines)");
            }
        }
        Assert.True(long_.Count == 0, $"{long_.Count} bodies over {MaxMethodLines} lines:\n{string.Join("\n", long_)}");
    }

    private static string Describe(SyntaxNode node) => node switch
    {
        MethodDeclarationSyntax m => m.Identifier.Text,
        ConstructorDeclarationSyntax c => c.Identifier.Text + " (constructor)",
        LocalFunctionStatementSyntax l => l.Identifier.Text + " (local function)",
        _ => node.Kind().ToString(),
    };
}
