/**
 * Foundations of the fork's bag-of-words modes (plaid-reference §7): {@link plaid.model.bow.DiffusionMode}
 * (the {@code --diffusion_mode} words), {@link plaid.model.bow.BowTransform} (ρ = {@code BoW_cumsum_gamma})
 * and {@link plaid.model.bow.InverseTransformLogits} (logits of a bow-space x̂). All three are host
 * references with their backward. Wired so far: {@code PlaidConfig} holds the fork's options and
 * validates the mode and ρ; {@code DiffusionObjective} trains {@code BoW_embedding}, with Plaid's head
 * or {@code reconst_first}'s ({@code Denoiser}, with {@code pred_x0} and {@code diff_lm_norms}), and
 * refuses the other words. What is left, read from the fork's public lib/models.py
 * ({@code DiffusionModel}); its train.py and sample.py are not public.
 *
 * <h2>Heads and their state-dict names (module {@code model.})</h2>
 * <ul>
 * <li>{@code token}, {@code BoW_embedding}: Plaid's head, {@code output_norm.weight} [D],
 *     {@code output_linear.weight} [V, D], {@code output_linear.bias} [V]. With BoW_embedding the
 *     returned x̂ = softmax(logits)·Ê is converted with {@code toBow} (in float64, as the fork's
 *     default does; its {@code use_double_precision_for_conversion} flag is inverted: true means
 *     float32); its backward is {@code toBowBackward} on dx̂.</li>
 * <li>{@code reconst_first} (done): the same names with other shapes, {@code output_linear.weight} [E, D]
 *     and {@code output_linear.bias} [E] (a µP readout to E). x̂_bow = y·Wᵀ + b + zb, without zb under
 *     {@code pred_x0} (zb = bias_scale·(α/σ²)·z, as in §2); logits =
 *     {@link plaid.model.bow.InverseTransformLogits} of x̂_bow (distances under {@code diff_lm_norms});
 *     the model returns (logits, x̂_bow) and softmax·Ê is never formed. A checkpoint therefore only
 *     loads into the mode it was trained in: {@code PlaidParameters}' shape check will say so.</li>
 * <li>{@code double_logit_reg}: no {@code output_norm}/{@code output_linear}; instead
 *     {@code output_norm_logits.weight} [D], {@code output_linear_logits.weight} [V, D],
 *     {@code output_linear_logits.bias} [V], {@code output_norm_embed.weight} [D],
 *     {@code output_linear_embed.weight} [E, D], {@code output_linear_embed.bias} [E], each readout
 *     zero-initialised and scaled by 1/widthMult like {@code output_linear}, so they join its
 *     initialisation and learning-rate rules in {@code PlaidParameters}. Direct logits = y_l·W_lᵀ + b_l
 *     + zb′·Êᵀ (Ê detached on mask-1 rows), zb′ = {@code fromBow}(zb) unless
 *     {@code direct_bow_x_to_logits}; x̂_bow from the embed head as for reconst_first; logits from
 *     the embed head are always dot products. {@code logits_direct_primary} makes the direct logits
 *     primary, else those from the embed head are; the model returns {logits, x_reconst,
 *     logits_secondary}.</li>
 * </ul>
 * In {@code Denoiser} steps 4–6 become a per-mode head; steps 1–3 (the input rescale, the blocks)
 * are unchanged, and self-conditioning feeds back the bow-space x̂ in every BoW mode.
 *
 * <h2>Objective and sampling</h2>
 * Done in {@code DiffusionObjective}: z = α·bow(x_embed) + σ·ε; the prior KL and the diffusion
 * term use bow(x_embed) in place of x_embed; {@code embedRegularizerLambda}·‖M‖² on the raw
 * embedding matrix (the fork's {@code EmbeddingMatrix.forward(unnormalize=True)}). Left: reconst
 * as the cross-entropy of the primary logits plus {@code reconstSecondaryWeight} × that of the
 * secondary ones, once a head has two. Done in {@code DiffusionSampler}: the state z lives in
 * bow space ({@link plaid.model.bow.DiffusionMode#convertsReconstToBow} says when x̂ is converted).
 * Left: guidance and the final argmax read the primary logits, or the secondary ones with
 * {@code useSecondaryLogits}.
 *
 * <h2>Open points</h2>
 * <ul>
 * <li>Segments: the fork's cumsum ignores {@code cu_seqlens}, so bow runs across split segments
 *     and {@link plaid.model.bow.BowTransform} follows it; a per-segment restart would be a
 *     deliberate departure.</li>
 * <li>{@code no_rescale} and {@code norm_ret_embeddings} are read only by the unpublished train.py.
 *     Candidates: no_rescale skips the input rescale z/√(α²/E + σ²), which assumes unit-norm
 *     embeddings that bow(x) breaks, or uses the unnormalised M; norm_ret_embeddings normalises the
 *     returned x̂ ("the norm on the x_reconst", says the seed). Decide before implementing them;
 *     until then {@link plaid.model.bow.DiffusionMode} accepts both without constraint.</li>
 * <li>On a device, bow is a batched product with the [S, S] lower-triangular matrix of ρ^(n−s),
 *     as the fork computes it, or a scan along S; the host classes here are the references.</li>
 * </ul>
 */
package plaid.model.bow;
