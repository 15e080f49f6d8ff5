package plaid.model;

/**
 * The embedding matrix is used row-normalised, Ê = M / (‖M_row‖ + 1e-8); this holds both
 * directions of that map (on the host: V×E is small). The fork's {@code norm_ret_embeddings}
 * applies the same map to predicted vectors ({@link plaid.model.bow.ReturnedEmbeddingNorm}).
 */
public final class EmbeddingMatrix {
    private static final double EPS = 1e-8;

    private EmbeddingMatrix() {}

    public static float[] normalize(float[] matrix, int embedDim) {
        float[] out = new float[matrix.length];
        for (int r = 0; r < matrix.length / embedDim; r++) {
            float c = (float) (rowNorm(matrix, r, embedDim) + EPS);
            for (int j = 0; j < embedDim; j++) out[r * embedDim + j] = matrix[r * embedDim + j] / c;
        }
        return out;
    }

    private static double rowNorm(float[] m, int r, int e) {
        double s = 0;
        for (int j = 0; j < e; j++) s += (double) m[r * e + j] * m[r * e + j];
        return Math.sqrt(s);
    }

    /** dM = dÊ/c − M (M·dÊ)/(c²‖M‖) per row, with c = ‖M‖ + 1e-8. */
    public static float[] backward(float[] matrix, float[] dNormalized, int embedDim) {
        float[] dm = new float[matrix.length];
        for (int r = 0; r < matrix.length / embedDim; r++) {
            double n = rowNorm(matrix, r, embedDim), c = n + EPS;
            double dot = 0;
            for (int j = 0; j < embedDim; j++) dot += (double) matrix[r * embedDim + j] * dNormalized[r * embedDim + j];
            for (int j = 0; j < embedDim; j++) {
                int i = r * embedDim + j;
                // a zero row (a zero-initialised head under norm_ret_embeddings) has no second term: its limit is 0
                dm[i] = (float) (dNormalized[i] / c - (n == 0 ? 0 : matrix[i] * dot / (c * c * n)));
            }
        }
        return dm;
    }
}
