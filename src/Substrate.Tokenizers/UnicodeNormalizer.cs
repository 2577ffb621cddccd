using System.Runtime.InteropServices;
using System.Text;

namespace Substrate.Tokenizers;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) for tokenizer normalizers (Qwen's NFC). The build runs .NET in
/// invariant-globalization mode, where <see cref="string.Normalize()"/> does nothing to non-ASCII text, so this calls
/// the system's ICU (libicuuc, as .NET itself would) through its versioned C API. ASCII text is returned as is
/// without ICU; other text with no ICU installed → InvalidOperationException naming the package.
/// </summary>
public sealed unsafe class UnicodeNormalizer
{
    private static readonly Lazy<Icu?> Library = new(Icu.Load);
    private readonly nint _instance;

    public UnicodeNormalizer(NormalizationForm form)
    {
        Form = form;
        if (Library.Value is not { } icu) return;
        int error = 0;
        _instance = form switch
        {
            NormalizationForm.FormC => icu.Instance("nfc", 0, &error),
            NormalizationForm.FormD => icu.Instance("nfc", 1, &error),
            NormalizationForm.FormKC => icu.Instance("nfkc", 0, &error),
            _ => icu.Instance("nfkc", 1, &error),
        };
        if (error > 0) throw new InvalidOperationException($"ICU could not open the {form} normalizer (UErrorCode {error})");
    }

    public NormalizationForm Form { get; }

    /// <summary>The text in <see cref="Form"/>; the same span when it already is (always for ASCII).</summary>
    public ReadOnlySpan<char> Normalize(ReadOnlySpan<char> text)
    {
        if (!text.ContainsAnyExceptInRange('\0', '\x7f')) return text;
        var icu = Library.Value ?? throw new InvalidOperationException(
            $"the tokenizer's {Form} normalizer needs ICU (libicuuc; Debian: apt-get install libicu72) and none was found");
        int error = 0;
        fixed (char* src = text)
        {
            if (icu.IsNormalized(_instance, src, text.Length, &error) != 0 && error <= 0) return text;
            error = 0;
            var dest = new char[text.Length * 3 + 16];
            fixed (char* d = dest)
            {
                int length = icu.Normalize(_instance, src, text.Length, d, dest.Length, &error);
                if (error > 0) throw new InvalidOperationException($"ICU {Form} normalization failed (UErrorCode {error})");
                return dest.AsSpan(0, length);
            }
        }
    }

    private sealed class Icu
    {
        // unorm2_getInstance(packageName, name, mode: 0 compose / 1 decompose, UErrorCode*)
        public required delegate* unmanaged<byte*, byte*, int, int*, nint> GetInstance;
        public required delegate* unmanaged<nint, char*, int, char*, int, int*, int> NormalizeFn;
        public required delegate* unmanaged<nint, char*, int, int*, sbyte> IsNormalizedFn;

        public nint Instance(string name, int mode, int* error)
        {
            var bytes = Encoding.ASCII.GetBytes(name + "\0");
            fixed (byte* n = bytes) return GetInstance(null, n, mode, error);
        }

        public int Normalize(nint instance, char* src, int length, char* dest, int capacity, int* error) =>
            NormalizeFn(instance, src, length, dest, capacity, error);

        public int IsNormalized(nint instance, char* src, int length, int* error) => IsNormalizedFn(instance, src, length, error);

        // ICU suffixes every symbol with its major version (unorm2_normalize_72); try the versions a distribution may carry.
        public static Icu? Load()
        {
            for (int version = 90; version >= 50; version--)
            {
                if (!NativeLibrary.TryLoad($"libicuuc.so.{version}", out var lib)) continue;
                if (NativeLibrary.TryGetExport(lib, $"unorm2_getInstance_{version}", out var get)
                    && NativeLibrary.TryGetExport(lib, $"unorm2_normalize_{version}", out var normalize)
                    && NativeLibrary.TryGetExport(lib, $"unorm2_isNormalized_{version}", out var isNormalized))
                {
                    return new Icu
                    {
                        GetInstance = (delegate* unmanaged<byte*, byte*, int, int*, nint>)get,
                        NormalizeFn = (delegate* unmanaged<nint, char*, int, char*, int, int*, int>)normalize,
                        IsNormalizedFn = (delegate* unmanaged<nint, char*, int, int*, sbyte>)isNormalized,
                    };
                }
            }
            return null;
        }
    }
}
