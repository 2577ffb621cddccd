using Substrate.Agents.Tools;

namespace Substrate.Agents.Tests;

public sealed class FolderToolsTests : IDisposable
{
    readonly string temp = Directory.CreateTempSubdirectory("substrate-folder-tools-").FullName;
    readonly string inside;
    readonly FolderTools tools;

    public FolderToolsTests()
    {
        inside = Path.Combine(temp, "inside");
        Directory.CreateDirectory(Path.Combine(inside, "notes"));
        File.WriteAllText(Path.Combine(inside, "a.txt"), "alpha");
        File.WriteAllText(Path.Combine(inside, "notes", "b.txt"), "beta");
        File.WriteAllText(Path.Combine(temp, "secret.txt"), "secret");
        Directory.CreateDirectory(Path.Combine(temp, "outside"));
        File.WriteAllText(Path.Combine(temp, "outside", "c.txt"), "gamma");
        File.CreateSymbolicLink(Path.Combine(inside, "link-out.txt"), Path.Combine(temp, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(inside, "dir-out"), Path.Combine(temp, "outside"));
        File.CreateSymbolicLink(Path.Combine(inside, "link-in.txt"), Path.Combine(inside, "a.txt"));
        Directory.CreateSymbolicLink(Path.Combine(inside, "notes-link"), "notes"); // relative, stays inside
        File.CreateSymbolicLink(Path.Combine(inside, "via-dir-out.txt"), "dir-out/c.txt"); // its target passes a link out
        Directory.CreateSymbolicLink(Path.Combine(inside, "via-dir-out"), "dir-out"); // a link to a link out
        File.CreateSymbolicLink(Path.Combine(inside, "loop"), "loop");
        tools = new FolderTools(inside, maxReadBytes: 8);
    }

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void Reads_and_lists_inside_the_folder()
    {
        Assert.Equal("alpha", tools.ReadFile("a.txt"));
        Assert.Equal("beta", tools.ReadFile("notes/b.txt"));
        Assert.Equal("beta", tools.ReadFile("notes/../notes/./b.txt"));
        Assert.Equal("alpha", tools.ReadFile("link-in.txt"));
        Assert.Equal("beta", tools.ReadFile("notes-link/b.txt"));
        Assert.Equal("b.txt (4 bytes)", tools.ListFiles("notes"));
        Assert.Contains("notes/", tools.ListFiles("."));
        Assert.Contains("a.txt (5 bytes)", tools.ListFiles(""));
    }

    [Theory]
    [InlineData("../secret.txt")]
    [InlineData("notes/../../secret.txt")]
    [InlineData("..")]
    [InlineData("link-out.txt")]
    [InlineData("dir-out/c.txt")]
    [InlineData("dir-out")]
    [InlineData("via-dir-out.txt")]
    [InlineData("via-dir-out/c.txt")]
    public void Refuses_paths_that_lead_outside(string path)
    {
        Assert.Throws<UnauthorizedAccessException>(() => tools.ReadFile(path));
        Assert.Throws<UnauthorizedAccessException>(() => tools.ListFiles(path));
    }

    [Fact]
    public void A_folder_under_a_linked_parent_still_reads_inside()
    {
        var linkedParent = Path.Combine(temp, "linked-parent");
        Directory.CreateSymbolicLink(linkedParent, temp);
        var throughLink = new FolderTools(Path.Combine(linkedParent, "inside"));
        Assert.Equal("alpha", throughLink.ReadFile("a.txt"));
        Assert.Equal("beta", throughLink.ReadFile("notes-link/b.txt"));
        Assert.Throws<UnauthorizedAccessException>(() => throughLink.ReadFile("via-dir-out.txt"));
    }

    [Fact]
    public void A_link_loop_is_an_error_not_a_hang() =>
        Assert.Throws<IOException>(() => tools.ReadFile("loop"));

    [Fact]
    public void Refuses_absolute_paths_even_inside()
    {
        Assert.Throws<UnauthorizedAccessException>(() => tools.ReadFile(Path.Combine(inside, "a.txt")));
        Assert.Throws<UnauthorizedAccessException>(() => tools.ReadFile("/etc/passwd"));
    }

    [Fact]
    public void A_long_file_is_cut_with_a_note()
    {
        File.WriteAllText(Path.Combine(inside, "long.txt"), "0123456789abcdef");
        Assert.Equal("01234567\n[truncated: the file has 16 bytes, the first 8 are shown]", tools.ReadFile("long.txt"));
    }

    [Fact]
    public void Missing_files_are_named() =>
        Assert.Contains("'nope.txt'", Assert.Throws<FileNotFoundException>(() => tools.ReadFile("nope.txt")).Message);

    [Fact]
    public void A_link_swapped_in_between_the_check_and_the_open_is_refused()
    {
        tools.BeforeOpen = checkedPath =>
        {
            File.Delete(checkedPath); // a.txt passed the check; now it becomes a link to a file outside
            File.CreateSymbolicLink(checkedPath, Path.Combine(temp, "secret.txt"));
        };
        var error = Assert.Throws<UnauthorizedAccessException>(() => tools.ReadFile("a.txt"));
        Assert.Equal("'a.txt' leads outside the folder (it changed while it was opened)", error.Message);
    }

    [Fact]
    public async Task A_fifo_is_refused_not_waited_on()
    {
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(inside, "pipe")))
            await mkfifo.WaitForExitAsync();
        var read = Task.Run(() => tools.ReadFile("pipe")); // no writer: an ordinary open would block for ever
        var error = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => read.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("'pipe' is not a regular file (a FIFO): only files are read", error.Message);
    }
}
