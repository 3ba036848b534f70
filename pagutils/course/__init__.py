"""The course around the book: a teacher's plan, the model pack, and where the course lives.

  syllabus     sessions and their time from the recorded run times (the Syllabus page)
  pack         a built cache as one verified archive for a class (python -m pagutils.course.pack)
  repository   the course's repository URL, one setting (python -m pagutils.course.repository)
"""
