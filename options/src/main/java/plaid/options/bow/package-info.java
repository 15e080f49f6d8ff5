/**
 * The fork's {@code --diffusion_mode} words ({@link plaid.options.bow.DiffusionMode}) and its
 * bag-of-words transform of ρ = {@code BoW_cumsum_gamma} ({@link plaid.options.bow.BowTransform}),
 * forward and backward: option values that {@link plaid.options.PlaidConfig} parses and checks. The
 * model's heads and objective over them, and the design of every mode, are in {@code plaid.model.bow}.
 */
package plaid.options.bow;
