using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Substrate.Agents.Tools;

/// <summary>
/// Opens a file for <see cref="FolderTools"/> so that what was checked is what is read. On Linux: the path must name a
/// regular file (a FIFO would block the open, a device is no document); it is opened non-blocking and without following
/// a swap into a terminal, then the opened handle itself is checked: its type again (fstat) and its real path
/// (<c>/proc/self/fd/N</c>), which must lie in the folder — so a link swapped in between the path check and the open is
/// caught. Elsewhere it is a plain open after the path check.
/// </summary>
static partial class ConfinedFile
{
    const int ORdOnly = 0, ONoCtty = 0x100, ONonBlock = 0x800, OCloExec = 0x80000; // the same on x86-64 and arm64
    const int AtFdCwd = -100, AtEmptyPath = 0x1000, StatxType = 0x1;
    const int SIfMt = 0xF000, SIfReg = 0x8000;

    /// <summary>Opens <paramref name="path"/> to read; <paramref name="realFolder"/> (links resolved) must hold it.</summary>
    public static FileStream OpenRead(string path, string realFolder, string shown)
    {
        if (!OperatingSystem.IsLinux()) return File.OpenRead(path);
        CheckType(Statx(AtFdCwd, path, 0, shown), shown); // before the open: a FIFO would block it
        var fd = Open(path, ORdOnly | ONonBlock | OCloExec | ONoCtty);
        if (fd < 0) throw new IOException($"cannot open '{shown}': {Marshal.GetLastPInvokeErrorMessage()}");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            CheckType(Statx(fd, "", AtEmptyPath, shown), shown); // the file opened, whatever the path names now
            var opened = new FileInfo($"/proc/self/fd/{fd}").LinkTarget
                ?? throw new IOException($"cannot tell which file '{shown}' opened");
            if (!FolderTools.IsInside(opened, realFolder))
                throw new UnauthorizedAccessException($"'{shown}' leads outside the folder (it changed while it was opened)");
            return new FileStream(handle, FileAccess.Read);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static void CheckType(int mode, string shown)
    {
        if ((mode & SIfMt) != SIfReg)
            throw new UnauthorizedAccessException($"'{shown}' is not a regular file ({Kind(mode & SIfMt)}): only files are read");
    }

    static string Kind(int type) => type switch
    {
        0x1000 => "a FIFO",
        0x2000 => "a character device",
        0x4000 => "a folder",
        0x6000 => "a block device",
        0xC000 => "a socket",
        _ => $"type 0x{type:x}",
    };

    /// <summary>stx_mode of statx(2), whose layout is the same on every Linux architecture (unlike struct stat).</summary>
    static int Statx(int dirFd, string path, int flags, string shown)
    {
        Span<byte> buffer = stackalloc byte[256]; // struct statx
        if (StatxNative(dirFd, path, flags, StatxType, ref MemoryMarshal.GetReference(buffer)) != 0)
            throw new IOException($"cannot inspect '{shown}': {Marshal.GetLastPInvokeErrorMessage()}");
        return BitConverter.ToUInt16(buffer[28..30]); // u32 mask, u32 blksize, u64 attributes, u32 nlink, uid, gid, then u16 mode
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxNative(int dirFd, string path, int flags, int mask, ref byte buffer);
}
