# One entry point for development tasks. The README's commands are the scripts these call.
.PHONY: build release test lint fmt bench install e2e faults
build:
	cargo build --workspace --bins
release:
	cargo build --release --bins
test:
	./scripts/test.sh
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
fmt:
	cargo fmt --all
e2e: build
	cargo nextest run -p berth-e2e
bench:
	./bench/run.sh
install:
	./scripts/install.sh
faults: build
	./scripts/faults.sh
