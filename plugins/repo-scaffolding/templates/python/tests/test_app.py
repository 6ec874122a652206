import unittest

from app import respond


class RespondTest(unittest.TestCase):
    def test_root_reports_the_service(self):
        status, body = respond("/")
        self.assertEqual(status, 200)
        self.assertIn("[[ appName ]]", body)

    def test_unknown_path_is_404(self):
        self.assertEqual(respond("/nope")[0], 404)


if __name__ == "__main__":
    unittest.main()
