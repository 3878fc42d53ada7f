"""The instructor's command line: ``python -m grader <command>``.

Commands:
    handouts [HW]                  regenerate every handout (or one) from solutions/
    check-handouts                 fail if a committed handout is stale or leaks solution text
    answer-key HW                  (re)build HW's answer key from solutions/
    grade HW [PATH ...] [--dir D]  grade submissions (folders, .zip, .tar.gz; D: one per entry)
    regrade HW STUDENT             grade STUDENT's latest submission again
    feedback HW STUDENT            show STUDENT's latest feedback
    export-csv HW FILE             every student's latest scores as CSV
    export-gradescope HW           a Gradescope autograder bundle (setup.sh, run_autograder)
    export-nbgrader HW --course-dir DIR
                                   HW as an nbgrader assignment in the course at DIR, autograded
                                   by this grader (see grader/nbgrader_course.py)
    similarity HW [--dir D] [--public P]
                                   the most similar pairs of students' code (copydetect), as
                                   CSV and an HTML report under grades/HW/
    isolation                      what this machine's sandbox can and cannot enforce
    release DEST [--repo-url URL] [--homeworks hw0,hw1] [--update]
                                   write the student edition to DEST as a git repository
                                   (--update: add a new release to it as a new commit)
    check HW [--timeout S] [-- PYTEST_ARGS...]
                                   a handout folder's public tests, run as the grader runs tests
                                   (as python -m grader.check, which make check-hwN runs)
    carry-forward TO               move filled functions from the previous handout into TO
                                   (as python -m grader.carry, which make carry-forward runs)
    submit HW [--no-test]          submissions/HW.zip, checked and graded locally
                                   (as python -m grader.submit, which make submit-hwN runs)

HW is a homework id (hw1) or folder (hw1_autograd).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import carry, check, handouts, submit
from .assignment import course_of
from .course import REPO, find_homework
from .markers import MarkerError

if TYPE_CHECKING:
    from .results import GradeResult

GRADES = REPO / "grades"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("handouts", help="regenerate the handouts from solutions/")
    generate.add_argument("hw", nargs="?", help="only this homework (hw1 or hw1_autograd)")
    commands.add_parser("check-handouts", help="check the committed handouts")
    key = commands.add_parser("answer-key", help="rebuild a homework's answer key")
    key.add_argument("hw")
    grade = commands.add_parser("grade", help="grade submissions")
    grade.add_argument("hw")
    grade.add_argument("paths", nargs="*", type=Path, help="submissions: folders, .zip or .tar.gz")
    grade.add_argument("--dir", type=Path, help="a folder holding one submission per student")
    grade.add_argument("--jobs", type=int, default=None, help="parallel workers (default: cores)")
    grade.add_argument("--student", help="the student id of a single submission (default: its name)")
    grade.add_argument("--results-json", type=Path, help="also write a single submission's "
                       "Gradescope results.json here")
    bundle = commands.add_parser("export-gradescope", help="write a Gradescope autograder bundle")
    bundle.add_argument("hw")
    bundle.add_argument("--dest", type=Path, help="the .zip to write (default: dist/gradescope-HW.zip)")
    nbgrader = commands.add_parser("export-nbgrader", help="write an nbgrader assignment")
    nbgrader.add_argument("hw")
    nbgrader.add_argument("--course-dir", type=Path, required=True,
                          help="the nbgrader course directory (made if missing)")
    for sub in (grade, regrade := commands.add_parser("regrade", help="regrade a student"),
                feedback := commands.add_parser("feedback", help="show a student's feedback"),
                export := commands.add_parser("export-csv", help="export scores as CSV")):
        sub.add_argument("--gradebook", type=Path, default=GRADES / "gradebook.sqlite")
        sub.add_argument("--out", type=Path, default=GRADES, help="feedback and results.json go "
                         "to OUT/HW/STUDENT/ (default: grades/)")
        if sub is not grade:
            sub.add_argument("hw")
    regrade.add_argument("student")
    feedback.add_argument("student")
    feedback.add_argument("--markdown", action="store_true", help="print the Markdown report")
    export.add_argument("file", type=Path)
    similar = commands.add_parser("similarity", help="compare students' code (copydetect)")
    similar.add_argument("hw")
    similar.add_argument("--dir", type=Path, help="compare the submissions in this folder (one "
                         "per student) instead of each student's latest in the gradebook")
    similar.add_argument("--gradebook", type=Path, default=GRADES / "gradebook.sqlite")
    similar.add_argument("--public", type=Path, help="a folder of known solutions to compare with")
    similar.add_argument("--out", type=Path, default=GRADES, help="the report goes to OUT/HW/ "
                         "(default: grades/)")
    similar.add_argument("--threshold", type=float, default=0.3, help="the HTML report shows "
                         "file pairs more similar than this (0..1, default 0.3)")
    commands.add_parser("isolation", help="show what the sandbox enforces here")
    release = commands.add_parser("release", help="write the student edition")
    release.add_argument("dest", type=Path)
    release.add_argument("--repo-url", help="the student repository notebooks clone on Colab "
                         "(default: course.toml's repo_url)")
    release.add_argument("--homeworks", help="comma-separated homeworks to release (default: all; "
                         "with --update, those already released)")
    release.add_argument("--update", action="store_true", help="update an existing edition: new "
                         "homeworks and changed given files, never a file the student changed")
    check_command = commands.add_parser("check", help="run a handout folder's public tests as "
                                        "the grader runs tests")
    check.add_arguments(check_command)
    carry.add_arguments(commands.add_parser("carry-forward", help="move filled functions from the "
                                            "previous handout"))
    submit.add_arguments(commands.add_parser("submit", help="write a homework's submission zip, "
                                             "checked and graded locally"))
    # Known arguments first: what follows ``check HW``'s ``--`` is pytest's (argparse cannot take
    # it once an option such as --timeout comes between HW and ``--``).
    args, rest = parser.parse_known_args(argv)
    if rest and (args.command != "check" or rest[0] != "--"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:
        args.pytest_args += rest[1:]

    try:
        return COMMANDS[args.command](args)
    except (MarkerError, ValueError, OSError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP while grading
        print(f"stopped ({stop or 'SIGINT'}): the results saved so far are kept", file=sys.stderr)
        return 130


def _handouts(args: argparse.Namespace) -> int:
    written = handouts.generate_all(only=args.hw)
    if not written:
        raise KeyError(f"no homework {args.hw!r}")
    for handout in written:
        print(f"{handout.homework.dir}/: {len(handout.files)} files, {len(handout.stubs)} stubs")
    return 0


def _check_handouts(args: argparse.Namespace) -> int:
    problems = handouts.check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-handouts: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check-handouts: every handout matches a fresh generation and leaks nothing")
    return 0


def _answer_key(args: argparse.Namespace) -> int:
    from . import answers
    key = answers.load(find_homework(course_of(), args.hw), rebuild=True)
    print(f"answer key for {key.homework}: {len(key.tests)} tests, "
          f"{sum(t.points for t in key.tests):g} points")
    return 0


def _submissions(args: argparse.Namespace) -> list[Path]:
    paths = list(args.paths)
    if args.dir:
        paths += sorted(p for p in args.dir.iterdir() if not p.name.startswith("."))
    if not paths:
        raise ValueError("no submissions: give paths, or --dir with a folder of submissions")
    from .workspace import student_id
    ids = [student_id(p) for p in paths]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"several submissions for the same student id: {', '.join(twice)}")
    return paths


def _save(result: GradeResult, submission: Path, args: argparse.Namespace) -> None:
    from . import gradebook, reports
    folder = args.out / result.homework / result.student
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedback.md").write_text(reports.feedback_markdown(result))
    reports.write_gradescope(result, folder / "results.json")
    db = gradebook.connect(args.gradebook)
    try:
        gradebook.record(db, result, submission)
    finally:
        db.close()


def _grade(args: argparse.Namespace) -> int:
    from . import grade, reports, variants
    homework = find_homework(course_of(), args.hw)
    variants.require_secret()  # refuse before grading anyone, not once per submission
    grade.stop_on_signals()
    paths = _submissions(args)
    if len(paths) > 1 and (args.student or args.results_json):
        raise ValueError("--student and --results-json are for a single submission")
    if len(paths) > 1:  # each result is saved the moment its submission is graded
        results = grade.grade_many(homework, paths, jobs=args.jobs, progress=sys.stderr.isatty(),
                                   on_result=lambda result, path: _save(result, path, args))
    else:
        results = [grade.grade(homework, paths[0], student=args.student)]
        _save(results[0], paths[0], args)
        if args.results_json:
            reports.write_gradescope(results[0], args.results_json)
    for result in results:
        print(reports.feedback_terminal(result))
    print(f"graded {len(results)} submission(s) of {homework.id}; feedback and results.json in "
          f"{args.out / homework.id}, gradebook {args.gradebook}")
    return 0


def _regrade(args: argparse.Namespace) -> int:
    from . import grade, gradebook, reports, variants
    homework = find_homework(course_of(), args.hw)
    variants.require_secret()
    grade.stop_on_signals()
    db = gradebook.connect(args.gradebook)
    row = db.execute("SELECT path FROM submissions WHERE student = ? AND homework = ? "
                     "ORDER BY id DESC LIMIT 1", (args.student, homework.id)).fetchone()
    db.close()
    if row is None:
        raise KeyError(f"no submission of {homework.id} by {args.student!r} in {args.gradebook}")
    result = grade.grade(homework, Path(row[0]), student=args.student)
    _save(result, Path(row[0]), args)
    print(reports.feedback_terminal(result))
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from . import gradebook, reports
    homework = find_homework(course_of(), args.hw)
    db = gradebook.connect(args.gradebook)
    results = {r.student: r for r in gradebook.latest(db, homework.id)}
    db.close()
    if args.student not in results:
        raise KeyError(f"no graded submission of {homework.id} by {args.student!r}")
    result = results[args.student]
    print(reports.feedback_markdown(result) if args.markdown else reports.feedback_terminal(result))
    return 0


def _export_csv(args: argparse.Namespace) -> int:
    from . import gradebook, reports
    homework = find_homework(course_of(), args.hw)
    db = gradebook.connect(args.gradebook)
    results = gradebook.latest(db, homework.id)
    db.close()
    reports.write_csv(results, args.file)
    print(f"{len(results)} student(s) written to {args.file}")
    return 0


def _export_gradescope(args: argparse.Namespace) -> int:
    from . import gradescope
    homework = find_homework(course_of(), args.hw)
    dest = gradescope.export(homework, args.dest or REPO / "dist" / f"gradescope-{homework.id}.zip")
    print(f"wrote {dest}: upload it as the autograder of {homework.id} on Gradescope")
    return 0


def _export_nbgrader(args: argparse.Namespace) -> int:
    from . import nbgrader_course
    homework = find_homework(course_of(), args.hw)
    source = nbgrader_course.export(homework, args.course_dir)
    print(f"wrote {source}: in {args.course_dir}, run `nbgrader generate_assignment {homework.id}` "
          f"(the README's JupyterHub section says what follows)")
    return 0


def _similarity(args: argparse.Namespace) -> int:
    from . import gradebook, similarity
    from .sandbox import printable
    homework = find_homework(course_of(), args.hw)
    if args.dir is not None:
        submissions = similarity.submissions_in(args.dir)
    else:
        db = gradebook.connect(args.gradebook)
        try:
            submissions = similarity.latest_submissions(db, homework)
        finally:
            db.close()
    folder = args.out / homework.id
    pairs, skipped = similarity.compare(homework, submissions, folder / "similarity.html",
                                        public=args.public, threshold=args.threshold)
    similarity.write_csv(pairs, folder / "similarity.csv")
    print(f"{len(submissions)} submission(s) of {homework.id}; the most similar pairs:")
    for pair in pairs[:15]:
        print(f"  {pair.score:4.0%}  {printable(pair.first, 80)} ~ {printable(pair.second, 120)}  "
              f"({pair.file}: {pair.similarity:.0%} / {pair.reverse_similarity:.0%})")
    for reason in skipped:
        print(f"  skipped {printable(reason, 200)}")
    print(f"all pairs: {folder / 'similarity.csv'}; the matching code: {folder / 'similarity.html'}")
    return 0


def _release(args: argparse.Namespace) -> int:
    from . import release
    homeworks = [h.strip() for h in args.homeworks.split(",") if h.strip()] if args.homeworks else None
    report = release.release(args.dest, repo_url=args.repo_url, homeworks=homeworks,
                             update=args.update)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        print(f"release: {len(report.problems)} problem(s): do not publish {args.dest}"
              + (" (nothing was written)" if args.update else ""), file=sys.stderr)
        return 1
    for note in report.notes:
        print(f"note: {note}")
    for conflict in report.conflicts:
        print(f"conflict, left alone: {conflict}")
    what = "updated" if args.update else "wrote"
    print(f"{what} the student edition in {args.dest} ({', '.join(report.homeworks)}): "
          f"{len(report.written)} file(s) written, {len(report.removed)} removed, "
          f"{len(report.conflicts)} conflict(s); "
          + (f"commit {report.commit[:12]}" if report.commit else "no commit")
          + "; no solutions, hidden tests or answers")
    return 0


def _isolation(args: argparse.Namespace) -> int:
    from . import sandbox
    isolation = sandbox.detect()
    cgroups = ", ".join(name for name, _ in isolation.cgroups) or "none"
    print(f"Landlock ABI {isolation.landlock_abi}, namespaces {'yes' if isolation.namespaces else 'no'}, "
          f"private mounts {'yes' if isolation.private_mounts else 'no'}, cgroups {cgroups}, "
          f"root {isolation.root}, sandbox uid "
          f"{isolation.sandbox_uid if isolation.sandbox_uid is not None else 'none'}")
    print("In force:")
    for line in isolation.protections or ["nothing"]:
        print(f"+ {line}")
    print("Missing:")
    for note in isolation.notes or ["nothing: every protection is in force"]:
        print(f"- {note}")
    return 0


COMMANDS = {"handouts": _handouts, "check-handouts": _check_handouts, "answer-key": _answer_key,
            "grade": _grade, "regrade": _regrade, "feedback": _feedback,
            "export-csv": _export_csv, "export-gradescope": _export_gradescope,
            "isolation": _isolation, "release": _release, "check": check.run,
            "carry-forward": carry.run, "submit": submit.run,
            "export-nbgrader": _export_nbgrader, "similarity": _similarity}

if __name__ == "__main__":
    sys.exit(main())
