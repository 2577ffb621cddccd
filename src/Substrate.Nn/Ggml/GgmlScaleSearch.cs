namespace Substrate.Nn.Ggml;

/// <summary>
/// ggml's searches for a block's scale (and min) used by the K-quants' reference encoders (make_qx_quants, make_q3_quants,
/// make_qkx2_quants in ggml-quants.c), with the same float operations in the same order so the results match bit for bit.
/// </summary>
internal static class GgmlScaleSearch
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>ggml's nearest_int: round half to even (its 1.5·2²³ trick).</summary>
    public static int NearestInt(float f) => (int)MathF.Round(f, MidpointRounding.ToEven);

    /// <summary>The largest |x| (first of equals), with the value it belongs to (sign kept) in <paramref name="signed"/>.</summary>
    public static float LargestMagnitude(ReadOnlySpan<float> x, out float signed)
    {
        float amax = 0;
        signed = 0;
        foreach (var v in x)
        {
            if (Math.Abs(v) > amax) { amax = Math.Abs(v); signed = v; }
        }
        return amax;
    }

    /// <summary>q = round(iscale · x) clamped to [-nmax, nmax), stored as q + offset in l (when given); returns the x²-weighted
    /// sums Σ w·x·q and Σ w·q² of the least-squares scale.</summary>
    private static (float SumLx, float SumL2) Fit(ReadOnlySpan<float> x, float iscale, int nmax, Span<sbyte> l, int offset)
    {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int q = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            if (!l.IsEmpty) l[i] = (sbyte)(q + offset);
            float w = x[i] * x[i];
            sumlx += w * x[i] * q;
            suml2 += w * q * q;
        }
        return (sumlx, suml2);
    }

    /// <summary>Symmetric quants L in [0, 2·nmax) of a scale fit by weighted least squares (weights x², ggml's rmse_type 1),
    /// trying 18 scales around nmax / max; returns the scale (x ≈ scale · (L - nmax)).</summary>
    public static float SymmetricLeastSquares(ReadOnlySpan<float> x, int nmax, Span<sbyte> l)
    {
        int n = x.Length;
        if (LargestMagnitude(x, out float max) < GroupMaxEps)
        {
            l[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        var (sumlx, suml2) = Fit(x, iscale, nmax, l, nmax);
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            (sumlx, suml2) = Fit(x, iscale, nmax, [], 0);
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) l[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>Q3_K's search (make_q3_quants with do_rmse): quants in [-nmax, nmax) moved one at a time while the x²-weighted
    /// fit improves (up to 5 passes); L gets them plus nmax; returns the scale.</summary>
    public static float Symmetric3Bit(ReadOnlySpan<float> x, int nmax, Span<sbyte> l)
    {
        int n = x.Length;
        if (LargestMagnitude(x, out float max) < GroupMaxEps)
        {
            l[..n].Clear();
            return 0f;
        }
        var (sumlx, suml2) = Fit(x, -nmax / max, nmax, l, 0);
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * l[i];
                if (!(slx > 0)) continue;
                float sl2 = suml2 - w * l[i] * l[i];
                int q = Math.Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (q == l[i]) continue;
                slx += w * x[i] * q;
                sl2 += w * q * q;
                if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                {
                    l[i] = (sbyte)q;
                    sumlx = slx;
                    suml2 = sl2;
                    changed++;
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) l[i] = (sbyte)(l[i] + nmax);
        return suml2 > 0 ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// Asymmetric quants L in [0, nmax] with a scale and a min (x ≈ scale · L - theMin), fit by weighted least squares over
    /// nstep + 1 trial scales (make_qkx2_quants); error is squared, or absolute with <paramref name="useMad"/>.
    /// </summary>
    public static float AsymmetricLeastSquares(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int nmax, Span<byte> l,
        out float theMin, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        Span<byte> aux = stackalloc byte[n];
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            l[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            l[i] = (byte)Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
            bestError += weights[i] * Error(scale * l[i] + min - x[i], useMad);
        }
        for (int step = 0; step <= nstep && nstep >= 1; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
                aux[i] = (byte)q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXl += w * q * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (!(det > 0)) continue;
            float thisScale = (sumW * sumXl - sumX * sumL) / det;
            float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXl / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++) error += weights[i] * Error(thisScale * aux[i] + thisMin - x[i], useMad);
            if (error < bestError)
            {
                aux[..n].CopyTo(l);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
        theMin = -min;
        return scale;
    }

    private static float Error(float diff, bool useMad) => useMad ? Math.Abs(diff) : diff * diff;
}
