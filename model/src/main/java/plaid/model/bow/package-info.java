/**
 * The fork's bag-of-words modes (plaid-reference §7): {@link plaid.options.bow.DiffusionMode} (the
 * {@code --diffusion_mode} words) and {@link plaid.options.bow.BowTransform} (ρ = {@code BoW_cumsum_gamma})
 * in the options module, which checks them with the other options; here
 * {@link plaid.model.bow.InverseTransformLogits} (logits of a bow-space x̂) and
 * {@link plaid.model.bow.ReturnedEmbeddingNorm} ({@code norm_ret_embeddings}), host references with their
 * backward. {@link plaid.model.head} builds each head, {@code DiffusionObjective} trains every mode and
 * {@code DiffusionSampler} samples it. Read from the fork's public lib/models.py ({@code DiffusionModel});
 * its train.py and sample.py are not public, so the objective and the two words only they read are ours.
 *
 * <h2>Heads and their state-dict names (module {@code model.})</h2>
 * <ul>
 * <li>{@code token}, {@code BoW_embedding}: Plaid's head, {@code output_norm.weight} [D],
 *     {@code output_linear.weight} [V, D], {@code output_linear.bias} [V]. With BoW_embedding the
 *     returned x̂ = softmax(logits)·Ê is converted with {@code toBow}; its backward is
 *     {@code toBowBackward} on dx̂.</li>
 * <li>{@code reconst_first}: the same names with other shapes, {@code output_linear.weight} [E, D]
 *     and {@code output_linear.bias} [E] (a µP readout to E). x̂_bow = y·Wᵀ + b + zb, without zb under
 *     {@code pred_x0} (zb = bias_scale·(α/σ²)·z, as in §2); logits =
 *     {@link plaid.model.bow.InverseTransformLogits} of x̂_bow (distances under {@code diff_lm_norms}).
 *     A checkpoint only loads into the mode it was trained in: {@code PlaidParameters}' shape check says so.</li>
 * <li>{@code double_logit_reg}: {@code output_norm_logits.weight} [D], {@code output_linear_logits.weight}
 *     [V, D], {@code output_linear_logits.bias} [V], {@code output_norm_embed.weight} [D],
 *     {@code output_linear_embed.weight} [E, D], {@code output_linear_embed.bias} [E], initialised and
 *     trained like {@code output_norm}/{@code output_linear}. Direct logits = y_l·W_lᵀ + b_l + zb′·Êᵀ,
 *     zb′ = {@code fromBow}(zb) unless {@code direct_bow_x_to_logits}; x̂_bow from the embed head as for
 *     reconst_first, and its logits are always dot products. {@code logits_direct_primary} makes the direct
 *     logits primary, else those from the embed head are.</li>
 * </ul>
 * Ê is detached in every x·Êᵀ term on rows with self-conditioning mask 1, as in Plaid's head.
 * Self-conditioning feeds back the bow-space x̂ in every BoW mode.
 *
 * <h2>Our readings where the fork's code is not public</h2>
 * <ul>
 * <li>Objective: z = α·bow(x_embed) + σ·ε; the prior and the diffusion term use bow(x_embed);
 *     reconst is the cross-entropy of the primary logits; {@code reconstSecondaryWeight} × that of the
 *     secondary ones and {@code embedRegularizerLambda}·‖M‖² (raw matrix) join the loss, not the nll.</li>
 * <li>{@code no_rescale}: without it bow is scaled by 1 − ρ, a decayed running mean that keeps a repeated
 *     embedding at unit norm (the fork's own note on normalising the cumsum says "mult by (1 − r)");
 *     ρ = 1 therefore needs {@code no_rescale}. At ρ = 0 both are the identity.</li>
 * <li>{@code norm_ret_embeddings} ("the norm on the x_reconst" in the seed): the bow-space head's
 *     token-space vectors are normalised like Ê's rows before they give logits or are returned.</li>
 * <li>Sampling: the state z lives in bow space; {@code use_secondary_logits} makes guidance and the final
 *     argmax read the secondary logits.</li>
 * <li>Segments: the fork's cumsum ignores {@code cu_seqlens}, so bow runs across split segments and
 *     {@link plaid.options.bow.BowTransform} follows it.</li>
 * </ul>
 * On a device the transform and the inverse-transform logits still run on the host (a download and an
 * upload per call); a scan kernel along S is the device form when it matters.
 */
package plaid.model.bow;
