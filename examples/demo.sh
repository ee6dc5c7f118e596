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

step "Data steward: a generated study with PHI in every header attribute, plus pydicom's sample files"
python - "$OUT/incoming" <<'PY'
import shutil, sys
from pathlib import Path
from pydicom.data import get_testdata_file
from govkit.deid.synthetic import phi_corpus
out = Path(sys.argv[1])
phi_corpus(out / "study", patients=2, files_per_patient=3)
for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "test-SR.dcm", "examples_palette.dcm",
             "examples_rgb_color.dcm", "waveform_ecg.dcm"):
    shutil.copy(get_testdata_file(name), out / name)
print(f"{sum(1 for _ in out.rglob('*.dcm'))} files in {out}")
PY
govkit deid scan "$OUT/incoming/study/KAUFMAN_SCOTT_0.dcm" | head -n 8
govkit deid run "$OUT/incoming" "$OUT/deidentified" --workers 2 \
  --option retain-longitudinal-modified-dates --option clean-descriptors \
  --report "$OUT/deid-report.json" --crosswalk "$OUT/crosswalk.csv"
govkit deid verify "$OUT/deidentified" --source "$OUT/incoming"

step "Engineer: the example lesion task (generate, train, register, evaluate)"
python examples/lesion/lesion_task.py "$OUT/lesion" --n-train 2000 --n-test 600
python examples/lesion/train.py "$OUT/lesion/train.npz" "$OUT/models/lesion-cnn" --name lesion-cnn --version 1.0
govkit data register lesion-train --version 1 "$OUT/lesion/train.npz"
govkit data register lesion-test --version 1 "$OUT/lesion/test.npz"
govkit model register lesion-cnn --version 1.0 --spec "$OUT/models/lesion-cnn/model.yaml" \
  --train-data lesion-train@1
govkit eval performance lesion-cnn@1.0 --data "$OUT/lesion/test.npz"

step "Engineer: gate the model on the shipped deployment policy (JUnit for CI pipelines)"
if govkit policy check lesion-cnn@1.0 --policy policies/deployment-default.yaml --junit "$OUT/policy-junit.xml"; then
  echo "gate open"
else
  echo "gate closed (exit $?): evidence the policy asks for is failing or not on record yet"
fi

step "Audit chain: verify"
govkit audit verify

printf '\nDemo finished. Outputs in %s:\n' "$OUT"
printf '  registry:            %s\n' "$GOVKIT_HOME/registry.sqlite"
printf '  de-identified data:  %s\n' "$OUT/deidentified"
printf '  de-id run report:    %s\n' "$OUT/deid-report.json"
printf '  example model:       %s\n' "$OUT/models/lesion-cnn/model.yaml"
printf '  policy JUnit XML:    %s\n' "$OUT/policy-junit.xml"
