namespace Substrate.Training;

/// <summary><c>loss.png</c>: training and validation loss against step, drawn with ScottPlot from metrics.jsonl.</summary>
public static class LossPlot
{
    public const string FileName = "loss.png";

    public static void Write(IReadOnlyList<MetricRecord> records, string path, int width = 900, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        var train = records.Where(r => r.Loss is not null).ToList();
        var validation = records.Where(r => r.ValidationLoss is not null).ToList();
        if (train.Count > 0)
        {
            var line = plot.Add.ScatterLine(train.Select(r => (double)r.Step).ToArray(), train.Select(r => r.Loss!.Value).ToArray());
            line.LegendText = "train";
        }
        if (validation.Count > 0)
        {
            var points = plot.Add.Scatter(validation.Select(r => (double)r.Step).ToArray(), validation.Select(r => r.ValidationLoss!.Value).ToArray());
            points.LegendText = "validation";
            points.MarkerSize = 7;
        }
        plot.Title("Loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats/token)");
        plot.ShowLegend();
        var temp = path + ".tmp.png";
        plot.SavePng(temp, width, height);
        File.Move(temp, path, overwrite: true);
    }
}
