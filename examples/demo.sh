#!/usr/bin/env bash
# govkit end-to-end demo on the embedded SQLite registry.
# Every step is a plain `govkit` command you can copy and adapt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${GOVKIT_DEMO_OUT:-$PWD/demo-output}
rm -rf "$OUT"; mkdir -p "$OUT"
export GOVKIT_HOME="$OUT/home"     # keeps the demo's registry and key apart from yours
step() { printf '\n== %s\n' "$*"; }

step "Registry: create and migrate the embedded SQLite database"
govkit db upgrade

step "Data steward: a generated study with PHI in every header attribute and burned into pixels, plus pydicom's samples"
python - "$OUT/incoming" <<'PY'
import shutil, sys
from pathlib import Path
from pydicom.data import get_testdata_file
from govkit.testing.dicom_corpus import burned_in, phi_corpus
out = Path(sys.argv[1])
phi_corpus(out / "study", patients=2, files_per_patient=3)
screen = burned_in(["KAUFMAN SCOTT", "MRN-0042-7781", "07/22/1943"], size=(256, 320))  # a dose-screen-like capture
screen.PatientName, screen.PatientID, screen.PatientBirthDate = "KAUFMAN^SCOTT", "MRN-0042-7781", "19430722"
screen.save_as(out / "study" / "dose_screen.dcm", enforce_file_format=True)
for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "examples_palette.dcm",
             "examples_rgb_color.dcm", "waveform_ecg.dcm"):
    shutil.copy(get_testdata_file(name), out / name)
print(f"{sum(1 for _ in out.rglob('*.dcm'))} files in {out}")
PY
govkit deid scan "$OUT/incoming/study/KAUFMAN_SCOTT_0.dcm" | head -n 8
govkit deid run "$OUT/incoming" "$OUT/deidentified" --workers 2 \
  --option retain-longitudinal-modified-dates --option clean-descriptors --option clean-pixel-data \
  --report "$OUT/deid-report.json" --crosswalk "$OUT/crosswalk.csv" --json > "$OUT/deid-run.json" \
  || echo "(some sample files could not be de-identified safely: listed in $OUT/deid-report.json)"
run_id=$(python -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['run_id'])" "$OUT/deid-run.json")
python -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"run {r['run_id']}: {r['n_ok']} written, {r['n_failed']} failed\"); [print('  not written:', f['source'], '-', f['reason']) for f in r['failures']]" "$OUT/deid-run.json"
govkit deid verify "$OUT/deidentified" --source "$OUT/incoming"
govkit report deid "$run_id" -o "$OUT/reports/deid-report.pdf"

step "Data steward: scale-out, an archive de-identified on a (local) Dask cluster, byte-identical to a local run"
bash examples/deid-on-dask.sh "$OUT/dask"

step "Engineer: the example lesion task (generate, train, register, evaluate)"
python examples/lesion/lesion_task.py "$OUT/lesion" --n-train 2000 --n-test 600
python examples/lesion/train.py "$OUT/lesion/train.npz" "$OUT/models/lesion-cnn" --name lesion-cnn --version 1.0
govkit data register lesion-train --version 1 "$OUT/lesion/train.npz" --datasheet examples/lesion/datasheet.yaml
govkit data register lesion-test --version 1 "$OUT/lesion/test.npz" --internal \
  --source "examples/lesion/lesion_task.py, held-out draw" --site "A, B, C"
# The registrant signs each registration with an engineer's roster key, so separation of duties
# holds by key: the engineer can never count as an approver of the versions they registered.
export GOVKIT_SIGNING_PASSPHRASE="demo only: use the prompt for real signatures"
mkdir -p "$OUT/keys"
govkit signer keygen "$OUT/keys/engineer.key"
govkit signer add "Eng. Charles Babbage" --role engineer --public-key "$OUT/keys/engineer.key.pub"
govkit model register lesion-cnn --version 1.0 --spec "$OUT/models/lesion-cnn/model.yaml" \
  --train-data lesion-train@1 --key "$OUT/keys/engineer.key"
govkit eval performance lesion-cnn@1.0 --data "$OUT/lesion/test.npz" --json > "$OUT/performance.json"
perf_eval=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['evaluation_id'])" "$OUT/performance.json")
python - "$OUT/performance.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for m in r["metrics"]:
    if not m["params"]:
        print(f"  {m['name']:<12} {m['value']:.3f}  95% CI [{m['ci_low']:.3f}, {m['ci_high']:.3f}]  n={m['n']}")
print(f"  (all {len(r['metrics'])} metrics, subgroups included, recorded as evaluation {r['evaluation_id']})")
PY

step "Engineer: audit the training data against the test split (shared patients, copied images, balance)"
govkit data audit lesion-train@1 --against lesion-test@1

step "Engineer: membership-inference privacy audit (LOSS and RMIA with 2 reference models)"
govkit privacy audit lesion-cnn@1.0 --members "$OUT/lesion/train.npz" --non-members "$OUT/lesion/test.npz" \
  --population "$OUT/lesion/population.npz" --attack loss --attack rmia --reference-models 2 --control

step "Engineer: robustness to noise, blur, MRI Gibbs ringing and a PGD attack"
govkit robustness run lesion-cnn@1.0 --data "$OUT/lesion/test.npz" \
  --corruption gaussian:3 --corruption poisson:3 --corruption blur:3 --corruption gibbs:3 \
  --attack fgsm --attack pgd-linf --eps 0.0039,0.0078,0.0157 --steps 10

step "Engineer: a second model trained on data with a site-marker shortcut"
python examples/lesion/train.py "$OUT/lesion/train_shortcut.npz" "$OUT/models/lesion-cnn-shortcut" \
  --name lesion-cnn-shortcut --version 1.0
govkit data register lesion-train-shortcut --version 1 "$OUT/lesion/train_shortcut.npz"
govkit model register lesion-cnn-shortcut --version 1.0 --spec "$OUT/models/lesion-cnn-shortcut/model.yaml" \
  --train-data lesion-train-shortcut@1 --key "$OUT/keys/engineer.key"
govkit eval performance lesion-cnn-shortcut@1.0 --data "$OUT/lesion/test.npz" --json > "$OUT/shortcut-performance.json"
govkit robustness run lesion-cnn-shortcut@1.0 --data "$OUT/lesion/test.npz" --corruption gaussian:3 \
  --attack pgd-linf --eps 0.0039 --json > "$OUT/shortcut-robustness.json"

step "Engineer: a third model, trained on a leaky split (test patients and re-exported test images in it)"
python - "$OUT/lesion" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
train, test = dict(np.load(f"{d}/train.npz")), dict(np.load(f"{d}/test.npz"))
rng = np.random.default_rng(5)
take = rng.choice(len(test["y"]), 60, replace=False)
copies = test["x"][take].copy()
copies[30:] = np.clip(copies[30:] + rng.normal(scale=0.02, size=copies[30:].shape), 0, 1)  # re-exported with noise
pids = np.array([f"X{i:05d}" for i in range(60)], dtype="U16")
pids[:20] = test["patient_id"][take[:20]]  # 20 of them keep their test patient ID
leaky = {k: np.concatenate([train[k], pids if k == "patient_id" else test[k][take] if k != "x" else copies])
         for k in ("x", "y", "patient_id", "group_site", "group_sex")}
np.savez(f"{d}/train_leaky.npz", **leaky)
print(f"train_leaky.npz: {len(leaky['y'])} images, 60 of them from test.npz")
PY
python examples/lesion/train.py "$OUT/lesion/train_leaky.npz" "$OUT/models/lesion-cnn-leaky" \
  --name lesion-cnn-leaky --version 1.0
govkit data register lesion-train-leaky --version 1 "$OUT/lesion/train_leaky.npz" --internal
govkit model register lesion-cnn-leaky --version 1.0 --spec "$OUT/models/lesion-cnn-leaky/model.yaml" \
  --train-data lesion-train-leaky@1 --key "$OUT/keys/engineer.key"
govkit eval performance lesion-cnn-leaky@1.0 --data "$OUT/lesion/test.npz" --json > "$OUT/leaky-performance.json"
if govkit data audit lesion-train-leaky@1 --against lesion-test@1 > "$OUT/leaky-data-audit.txt"; then
  echo "unexpected: no leakage found"; exit 1
fi
grep -E "^vs |^LEAKAGE" "$OUT/leaky-data-audit.txt"
govkit policy check lesion-cnn-leaky@1.0 --policy examples/lesion/policy.yaml --json > "$OUT/leaky-policy.json" \
  && { echo "unexpected: the leaky model passed"; exit 1; }
python -c "import json,sys; [print(f\"  {r['id']}: {r['status']} ({r['detail']})\") for r in json.load(open(sys.argv[1]))['requirements'] if r['evidence'] == 'data']" "$OUT/leaky-policy.json"
echo "-> lesion-cnn-leaky@1.0 refused: its training data holds test patients and test images"

step "Engineer: explanations and their checks on the held-out test images"
# (on images carrying the site marker both models' Grad-CAM maxima fall mostly on the marker, so
# localisation fails for both; the shortcut model is refused below for its sensitivity without the marker)
for m in lesion-cnn lesion-cnn-shortcut; do
  govkit explain run "$m@1.0" --data "$OUT/lesion/test.npz" --methods grad-cam,saliency \
    --samples 64 --out "$OUT/explain/$m"
done

step "Engineer: gate both models on the deployment policy (JUnit XML for CI pipelines)"
for m in lesion-cnn lesion-cnn-shortcut; do govkit policy attach "$m@1.0" --policy examples/lesion/policy.yaml; done
if govkit policy check lesion-cnn-shortcut@1.0 --policy examples/lesion/policy.yaml --junit "$OUT/shortcut-junit.xml"; then
  echo "unexpected: the shortcut model passed"; exit 1
fi
if ! govkit model promote lesion-cnn-shortcut@1.0 --to validated; then
  echo "-> lesion-cnn-shortcut@1.0 refused (the refusal is in the audit log)"
fi
govkit model promote lesion-cnn@1.0 --to validated
govkit model coverage lesion-cnn@1.0 | head -n 1

step "Compliance officer: risk assessment, sign-offs, an incident, promotion"
govkit risk add lesion-cnn@1.0 --hazard "Missed lesion on low-contrast acquisitions" \
  --situation "Site B images (lower contrast) are read by the model" --harm "Delayed diagnosis" \
  --severity S4 --probability P3 --control "Second reader for site B" --control-evidence "$perf_eval" \
  --residual-severity S4 --residual-probability P1
govkit risk suggest lesion-cnn@1.0
# Each signer makes a passphrase-encrypted Ed25519 key; an administrator registers the public
# half with the signer's roles.  The passphrase comes from a prompt, or (automation, this demo)
# GOVKIT_SIGNING_PASSPHRASE.
export GOVKIT_SIGNING_PASSPHRASE="demo only: use the prompt for real signatures"
mkdir -p "$OUT/keys"
govkit signer keygen "$OUT/keys/hopper.key"
govkit signer keygen "$OUT/keys/lovelace.key"
govkit signer add "Dr. Grace Hopper" --role clinical-lead --public-key "$OUT/keys/hopper.key.pub"
govkit signer add "Ada Lovelace" --role quality-manager --public-key "$OUT/keys/lovelace.key.pub"
govkit approve lesion-cnn@1.0 --role clinical-lead --decision approve \
  --meaning "Clinical performance and risk controls reviewed" --key "$OUT/keys/hopper.key"
govkit approve lesion-cnn@1.0 --role quality-manager --decision approve \
  --meaning "Release under the QMS" --key "$OUT/keys/lovelace.key"
unset GOVKIT_SIGNING_PASSPHRASE
govkit model promote lesion-cnn@1.0 --to approved
incident=$(govkit incident report lesion-cnn@1.0 --description "Lesion missed at the image border" \
  --case-ref case-7f3a91c2 --severity high --json | python -c "import json,sys; print(json.load(sys.stdin)['id'])")
govkit model promote lesion-cnn@1.0 --to deployed || echo "-> deployment blocked by the open incident"
govkit incident triage "$incident" --note "Reproduced; lesion partly outside the tissue disc"
govkit incident close "$incident" --note "Out of intended use; caveat added to the card"
govkit model promote lesion-cnn@1.0 --to deployed
govkit model history lesion-cnn@1.0
govkit eval drift lesion-cnn@1.0 --data "$OUT/lesion/population.npz"

step "Compliance officer: the model card and the audit report (PDF/A-3b, evidence attached)"
govkit report model-card lesion-cnn@1.0 -o "$OUT/reports/model-card.pdf"
govkit report audit lesion-cnn@1.0 -o "$OUT/reports/audit-report.pdf"
govkit report export lesion-cnn@1.0 --format mct-json -o "$OUT/reports/model-card.mct.json"
# The CHAI Applied Model Card (checked against CHAI's XSD), signed by the quality manager, then verified
GOVKIT_SIGNING_PASSPHRASE="demo only: use the prompt for real signatures" govkit report export lesion-cnn@1.0 \
  --format chai-xml -o "$OUT/reports/model-card.chai.xml" --sign --key "$OUT/keys/lovelace.key"
govkit report verify "$OUT/reports/model-card.chai.xml"

step "Audit chain: verify (links, every row re-hashed, every signature)"
govkit audit verify

printf '\nDemo finished. Outputs in %s:\n' "$OUT"
printf '  registry:            %s\n' "$GOVKIT_HOME/registry.sqlite"
printf '  de-identified data:  %s\n' "$OUT/deidentified"
printf '  de-id run report:    %s\n' "$OUT/deid-report.json"
printf '  signing keys:        %s\n' "$OUT/keys"
printf '  PDF reports:         %s\n' "$OUT/reports/deid-report.pdf" "$OUT/reports/model-card.pdf" "$OUT/reports/audit-report.pdf"
printf '  example model:       %s\n' "$OUT/models/lesion-cnn/model.yaml"
printf '  policy JUnit XML:    %s\n' "$OUT/shortcut-junit.xml"
printf '  explanation overlays: %s\n' "$OUT/explain"
