/**
 * The denoiser's output heads (plaid-reference §2 steps 4–6 and §7), one per head a diffusion mode
 * builds, behind {@link plaid.model.head.OutputHead}: {@code PlaidHead},
 * {@code ReconstFirstHead} and {@code DoubleLogitHead}. Each is built
 * from parts that keep their forward and backward side by side: {@code OutputNorm}
 * ({@code output_norm*}), {@code Readout} ({@code output_linear*}),
 * {@code ZBias} (zb) and {@code BowSpaceReconst} (the bow-space x̂ of
 * the fork's heads). Weights are resolved by name once, when a head is built.
 */
package plaid.model.head;
