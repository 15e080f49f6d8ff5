// Validates Kubernetes manifests against the API's schemas (types, enums, required fields), with
// kubernetes-models' validators: offline, no cluster needed. Usage:
//   node validate.mjs FILE... (a {{JOB}} placeholder is filled with a job id first)
// Prints one line per object; exits 1 if any object or document is invalid.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const SAMPLE_JOB = "0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b";
let invalid = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8").replaceAll("{{JOB}}", SAMPLE_JOB);
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      console.log(`${file}: not YAML: ${document.errors.map((e) => e.message).join("; ")}`);
      invalid++;
      continue;
    }
    const object = document.toJS();
    const what = `${file}: ${object?.apiVersion} ${object?.kind} ${object?.metadata?.name}`;
    let model;
    try {
      model = (await import(`kubernetes-models/${object.apiVersion}/${object.kind}`))[object.kind];
    } catch {
      console.log(`${what}: no such apiVersion and kind`);
      invalid++;
      continue;
    }
    try {
      new model(object).validate();
      console.log(`${what}: valid`);
    } catch (e) {
      console.log(`${what}: ${e.message}`);
      invalid++;
    }
  }
}
process.exit(invalid > 0 ? 1 : 0);
